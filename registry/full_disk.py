"""A data directory on a full disk: serve read-only instead of not at all.

When a probe file cannot be written in the data directory because the disk (or the
quota) is full, the server still starts: pulls go on, every write to the API answers
507 INSUFFICIENT_STORAGE, /readyz says why, and the probe is tried again every
RECHECK seconds; once it succeeds, writes are taken again. Any other failure to write
(permissions, a read-only mount) stays a start-up error (registry/preflight).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger("artifact-store")

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
RECHECK = 5.0  # seconds between probes while full
MIN_FREE = 1024 * 1024  # less free space than this (for this user) counts as full
PROBE = b"artifact-store write probe\n"


def is_full(exc: OSError) -> bool:
    return exc.errno in FULL


def write_probe(path: Path) -> None:
    """Write, sync and remove a small file: a full disk fails here, not in a request."""
    stats = os.statvfs(path)
    if stats.f_bavail * stats.f_frsize < MIN_FREE:  # a page or two left: full all the same
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    probe = path / f".probe-{uuid.uuid4().hex}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, PROBE)
        os.fsync(fd)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


class WriteGate:
    """Whether this process takes writes; `reason` says why not (None: it does)."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir  # None: nothing lives there (metadata and blobs elsewhere)
        self.reason: str | None = None

    async def check(self) -> bool:
        """Probe the data directory; True when writes can be taken."""
        if self.data_dir is None:
            return True
        try:
            await asyncio.to_thread(write_probe, self.data_dir)
        except OSError as exc:
            if not is_full(exc):  # start-up checks report the rest; requests will too
                log.warning("cannot write a probe file in %s: %s", self.data_dir, exc)
                return True
            if self.reason is None:
                self.reason = f"no space left on the disk of {self.data_dir}: serving read-only"
                log.warning(
                    "%s; pushes and deletes answer 507 until space is freed (checked every %ds)",
                    self.reason,
                    RECHECK,
                )
            return False
        if self.reason is not None:
            log.info("space freed on the disk of %s: taking writes again", self.data_dir)
            self.reason = None
        return True

    async def watch(self) -> None:
        """While full, probe every RECHECK seconds until writes can be taken again."""
        while True:
            if await self.check():
                return
            await asyncio.sleep(RECHECK)
