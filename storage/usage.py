"""Blobs and bytes stored and upload sessions open, counted now and then by one process.

Counting a large blobs table is a scan: too much for every metrics scrape, and
wasted when every worker and replica does it. So the one row of storage_usage
holds the last count; one process at a time claims the row when the count is
older than the interval, counts, and writes the result back; every process reads
the row (one row by key) to report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update

from storage.database import Database, rowcount
from storage.schema import blobs, storage_usage, uploads

ROW = 1
COUNT_TIMEOUT = timedelta(minutes=10)  # a claim left by a process that died mid-count expires


@dataclass(frozen=True)
class Usage:
    blobs: int
    bytes: int
    uploads: int
    counted: datetime | None  # None: never counted yet


async def refresh(db: Database, interval: float) -> Usage:
    """The stored counts, counted first when they are older than `interval` seconds and no
    other process is counting."""
    usage = await read(db)
    if _due(usage, interval) and await _claim(db, interval):
        await _count(db)
        usage = await read(db)
    return usage


async def read(db: Database) -> Usage:
    async with db.read() as conn:
        found = await conn.execute(select(storage_usage).where(storage_usage.c.id == ROW))
    row = found.first()
    if row is None:
        return Usage(0, 0, 0, None)
    counted = row.counted
    if counted is not None and counted.tzinfo is None:  # SQLite keeps no time zone: UTC
        counted = counted.replace(tzinfo=UTC)
    return Usage(row.blobs, row.bytes, row.uploads, counted)


def _due(usage: Usage, interval: float) -> bool:
    return usage.counted is None or usage.counted < datetime.now(UTC) - _seconds(interval)


async def _claim(db: Database, interval: float) -> bool:
    now = datetime.now(UTC)
    due = or_(storage_usage.c.counted.is_(None), storage_usage.c.counted < now - _seconds(interval))
    idle = or_(storage_usage.c.counting_until.is_(None), storage_usage.c.counting_until < now)
    async with db.write() as conn:
        empty = {"id": ROW, "blobs": 0, "bytes": 0, "uploads": 0}
        await conn.execute(db.insert_ignore(storage_usage).values(**empty))
        claimed = await conn.execute(
            update(storage_usage)
            .where(storage_usage.c.id == ROW, due, idle)
            .values(counting_until=now + COUNT_TIMEOUT)
        )
    return rowcount(claimed) == 1


async def _count(db: Database) -> None:
    async with db.read() as conn:
        totals = select(func.count().label("blobs"), func.sum(blobs.c.size).label("bytes"))
        stored = (await conn.execute(totals)).one()
        sessions = (await conn.execute(select(func.count()).select_from(uploads))).scalar_one()
    counts = {"blobs": stored.blobs, "bytes": stored.bytes or 0, "uploads": sessions}
    async with db.write() as conn:
        await conn.execute(
            update(storage_usage)
            .where(storage_usage.c.id == ROW)
            .values(**counts, counted=datetime.now(UTC), counting_until=None)
        )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
