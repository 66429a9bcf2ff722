"""What every serving process sets up before it serves: the first process, which
starts the workers, and each worker again (granian configures logging in its
workers after the fork)."""

from __future__ import annotations

import contextlib
import ctypes
import sys

from registry import logs
from registry.config import Settings

# mallopt(3) parameter: how many malloc arenas glibc may create.
M_ARENA_MAX = -8


def prepare(settings: Settings) -> None:
    one_malloc_arena()
    logs.configure(settings)


def one_malloc_arena() -> None:
    """Keep glibc to one malloc arena. Blob chunks are read and hashed in worker threads;
    with an arena per thread, each arena keeps the megabyte buffers freed in it, which
    with many concurrent downloads adds up to well over 100 MiB of resident memory."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)
