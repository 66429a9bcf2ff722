"""Locks that hold across the processes sharing a data directory (a server's workers).

One file, and a POSIX record lock on one byte of it per key, at an offset taken
from the key's hash: no file per key to create or clean up, and a lock held by
a process that dies is released by the kernel. Record locks belong to a process,
and closing any descriptor of the file drops all of them, so each process keeps
one descriptor open until it closes the store; within a process the caller
serializes (an asyncio lock) before it asks here. Waiting polls without
blocking, so the event loop keeps serving and a waiter can be cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

POLL = 0.01  # seconds between attempts while another process holds the lock


class FileLocks:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Exclusive across processes for the block; waits while another process holds it."""
        fd = self._descriptor()
        offset = _offset(key)
        while True:  # no event to wait for: another process holds it
            if _try_lock(fd, offset):
                break
            await asyncio.sleep(POLL)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd


def _offset(key: str) -> int:
    """A byte of the file per key; 62 bits, so distinct keys practically never share one."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2


def _try_lock(fd: int, offset: int) -> bool:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
    except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: held elsewhere
        return False
    return True
