"""A count of committed writes, shared through memory by the processes of one SQLite
database (a server's workers), so a reader learns in well under a microsecond whether
anyone wrote since it last looked.

It is 8 bytes at the start of a file beside the database, mapped into each process.
A writer moves it after its commit (storage/database.py); a reader compares it with
the value it saw last (storage/cache_sync.py). Two writers moving it at once may both
write the same number. That loses nothing: each of them committed before reading the
old number, so before the other's write that a reader sees, and a reader looks for
changes only after seeing the number move. (`PRAGMA data_version` tells the same, but
costs a read transaction per call: a quarter of a manifest GET's time here.)
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_COUNT = struct.Struct("<Q")


class ChangeCount:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None  # opened at first use: a reader-only tool makes no file

    def read(self) -> int:
        value: int = _COUNT.unpack_from(self._mapped())[0]
        return value

    def bump(self) -> None:
        mapped = self._mapped()
        _COUNT.pack_into(mapped, 0, (_COUNT.unpack_from(mapped)[0] + 1) % 2**64)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def _mapped(self) -> mmap.mmap:
        if self._map is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if os.fstat(fd).st_size < _COUNT.size:
                    os.ftruncate(fd, _COUNT.size)  # zeros; a second creator truncates to the same
                self._map = mmap.mmap(fd, _COUNT.size)
            finally:
                os.close(fd)
        return self._map
