"""What every serving process sets up before it serves: the first process, which
starts the workers, and each worker again (granian configures logging in its
workers after the fork)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

from registry import logs
from registry.config import Settings

# mallopt(3) parameter: how many malloc arenas glibc may create.
M_ARENA_MAX = -8
# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def prepare(settings: Settings) -> None:
    one_malloc_arena()
    logs.configure(settings)


def prepare_worker(settings: Settings, parent: int) -> None:
    """A worker process, forked from `parent` (the first process): as `prepare`, and it
    does not outlive that parent."""
    die_with_parent(parent)
    prepare(settings)


def die_with_parent(parent: int) -> None:
    """However the first process ends (SIGKILL included), the kernel kills its workers, as
    when the machine stops: none is left serving the address on its own. A graceful stop
    goes through the first process, which stops the workers first."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def one_malloc_arena() -> None:
    """Keep glibc to one malloc arena. Blob chunks are read and hashed in worker threads;
    with an arena per thread, each arena keeps the megabyte buffers freed in it, which
    with many concurrent downloads adds up to well over 100 MiB of resident memory."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)
