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
shares it. On SQLite, the count of commits the processes share through memory
(storage/change_count.py) says in well under a microsecond whether anyone
committed since the last read; when no one did there is nothing to read.
PostgreSQL replicas share no memory: a request reads the log (one indexed
query, shared as above).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import bindparam, func, select

from storage.caches import RepositoryCaches
from storage.database import Database
from storage.schema import events

# Events that change no cached answer: additions (only positive answers are cached), and
# what gc removes that no repository could read any more (blobs, upload sessions, a run).
ADDS_ONLY = frozenset(
    {
        "blob.push",
        "blob.mount",
        "blob.pull",
        "manifest.pull",
        "blob.collect",
        "upload.collect",
        "gc.run",
    }
)
BATCH = 1000  # events read at a time
_SINCE = (
    select(events.c.seq, events.c.action, events.c.repository)
    .where(events.c.seq > bindparam("last"))
    .order_by(events.c.seq)
    .limit(BATCH)
)
_NEWEST = select(func.max(events.c.seq))


class CacheSync:
    def __init__(self, db: Database, caches: RepositoryCaches) -> None:
        self.db = db
        self.caches = caches
        self._changes = db.changes
        self._seen: int | None = None  # the change count when the log was last read through
        self._last = 0  # the newest event read
        self._started = 0  # reads of the log begun
        self._finished = 0  # the number of the last read that completed
        self._reading = asyncio.Lock()

    async def start(self) -> None:
        """From now on: what is in the log already changed nothing cached yet."""
        self._seen = self._changes.read() if self._changes else None  # before the log: a
        async with self.db.read() as conn:  # commit in between is read again, never missed
            self._last = (await conn.execute(_NEWEST)).scalar() or 0

    async def catch_up(self) -> None:
        """Drop what other processes changed before this call; once per request."""
        if self._unchanged():
            return
        wanted = self._started + 1  # a read that begins from here on
        async with self._reading:
            if self._finished >= wanted:
                return
            self._started += 1
            count = self._changes.read() if self._changes else None
            await self._read_log()
            self._finished = self._started
            self._seen = count

    def _unchanged(self) -> bool:
        """No process committed since the log was last read through (SQLite only)."""
        return self._changes is not None and self._changes.read() == self._seen

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
