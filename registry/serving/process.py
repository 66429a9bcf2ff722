"""What every serving process sets up before it serves: the parent that starts the
workers and each worker alike (a spawned worker starts from nothing; a forked one
redoes it harmlessly)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys

from registry.config import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# mallopt(3) parameter: how many malloc arenas glibc may create.
M_ARENA_MAX = -8


def prepare(settings: Settings) -> None:
    one_malloc_arena()
    configure_logging(settings)


def configure_logging(settings: Settings) -> None:
    """The one place log output is set up; the servers' own loggers propagate to it."""
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT, force=True)


def one_malloc_arena() -> None:
    """Keep glibc to one malloc arena. Blob chunks are read and hashed in worker threads;
    with an arena per thread, each arena keeps the megabyte buffers freed in it, which
    with many concurrent downloads adds up to well over 100 MiB of resident memory."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)
