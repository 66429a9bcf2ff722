"""Keeps this process's caches right while other processes (workers, replicas) write.

Every change of state writes an event in the transaction that makes it
(storage/events.py), and event numbers become visible in order: SQLite has one
writer at a time, and on PostgreSQL `events.record` orders the commits with an
advisory lock. So the event log is a change feed. Before a read consults a
cache, `catch_up` reads the events numbered past the last one seen and drops
what is cached about each repository they name (all of it for an event that
names none). Events that only add (a blob pushed, mounted or pulled) change no
cached answer, since only positive answers are cached.

A request must see every change committed before it arrived, so it waits for a
read of the log that began after it arrived, never settling for one begun
earlier; reads run one at a time and every request waiting when one begins
shares it. On SQLite, `PRAGMA data_version` on a connection of its own says in a
few microseconds, without leaving the event loop, whether any other connection
(of any process) committed since the last look; when none did there is nothing
to read. PostgreSQL has no such number: a request reads the log (one indexed
query, shared as above).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import bindparam, func, select

from storage.caches import RepositoryCaches
from storage.database import Database, sqlite_file
from storage.schema import events

ADDS_ONLY = frozenset({"blob.push", "blob.mount", "blob.pull", "manifest.pull"})
BATCH = 1000  # events read at a time
_SINCE = (
    select(events.c.seq, events.c.action, events.c.repository)
    .where(events.c.seq > bindparam("last"))
    .order_by(events.c.seq)
    .limit(BATCH)
)
_NEWEST = select(func.max(events.c.seq))


class DataVersion:
    """SQLite's count of commits by other connections, read on a connection of its own."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA busy_timeout=0")  # never wait on the event loop

    def read(self) -> int | None:
        """The number, or None when SQLite cannot tell right now (then read the log)."""
        try:
            row = self._connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0])

    def close(self) -> None:
        self._connection.close()


class CacheSync:
    def __init__(self, db: Database, caches: RepositoryCaches) -> None:
        self.db = db
        self.caches = caches
        file = sqlite_file(db.url)
        self._version = DataVersion(file) if file is not None else None
        self._seen: int | None = None  # data_version when the log was last read through
        self._last = 0  # the newest event read
        self._started = 0  # reads of the log begun
        self._finished = 0  # the number of the last read that completed
        self._reading = asyncio.Lock()

    async def start(self) -> None:
        """From now on: what is in the log already changed nothing cached yet."""
        async with self.db.read() as conn:
            self._last = (await conn.execute(_NEWEST)).scalar() or 0
        self._seen = self._version.read() if self._version else None

    async def catch_up(self) -> None:
        """Drop what other processes changed before this call; once per request."""
        if self._unchanged():
            return
        wanted = self._started + 1  # a read that begins from here on
        async with self._reading:
            if self._finished >= wanted:
                return
            self._started += 1
            version = self._version.read() if self._version else None
            await self._read_log()
            self._finished = self._started
            self._seen = version

    def _unchanged(self) -> bool:
        """SQLite says no other connection committed since the log was last read through."""
        return (
            self._seen is not None
            and self._version is not None
            and (self._version.read() == self._seen)
        )

    async def _read_log(self) -> None:
        while True:
            async with self.db.read() as conn:
                rows = (await conn.execute(_SINCE, {"last": self._last})).all()
            for row in rows:
                self._apply(row.action, row.repository)
            if rows:
                self._last = rows[-1].seq
            if len(rows) < BATCH:
                return

    def _apply(self, action: str, repository: str | None) -> None:
        if action in ADDS_ONLY:
            return
        if repository is None:
            self.caches.changed_everywhere()
        else:
            self.caches.changed(repository)

    def close(self) -> None:
        if self._version is not None:
            self._version.close()
