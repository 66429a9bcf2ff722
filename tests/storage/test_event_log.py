"""The event log's readers' guarantees: numbers commit in order (so a cursor never
passes an event by), notification leases exclude each other, usage is counted once
per interval. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage import events, usage
from storage.database import Database, default_url
from storage.notification_cursors import NotificationCursors
from storage.schema import blobs


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = default_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres").emptied_database()
    database = Database(url)
    await database.migrate()
    yield database
    await database.close()


async def test_a_later_event_commits_only_after_an_earlier_one(db: Database) -> None:
    """While a transaction holds event N uncommitted, event N+1 cannot commit: a reader
    that sees N+1 has seen N. (On PostgreSQL the advisory lock does this; on SQLite,
    the one writer.)"""
    # SQLite: one process, whose writers queue on one lock; PostgreSQL: another pool.
    second_db = db if db.is_sqlite else Database(db.url)
    first_holds, release = asyncio.Event(), asyncio.Event()
    committed: list[str] = []

    async def first() -> None:
        async with db.write() as conn:
            await events.record(conn, "a", "tag.push", "order/repo", tag="first")
            first_holds.set()
            await release.wait()
        committed.append("first")

    async def second() -> None:
        await first_holds.wait()
        async with second_db.write() as conn:
            await events.record(conn, "b", "tag.push", "order/repo", tag="second")
        committed.append("second")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    try:
        await first_holds.wait()
        await asyncio.sleep(0.5)  # room for the second to commit, were it not held back
        assert committed == []
    finally:
        release.set()
        await asyncio.gather(*tasks)
        if second_db is not db:
            await second_db.close()
    assert committed == ["first", "second"]
    records = [e.record() for e in await events.after(db, 0, 10)]
    assert [r["tag"] for r in records] == ["first", "second"]
    assert records[0]["seq"] < records[1]["seq"]


async def test_pages_and_batches(db: Database) -> None:
    pending = [events.Pending("reader", "blob.pull", "paged/repo", {"n": n}) for n in range(7)]
    await events.record_batch(db, pending)
    assert await events.last_seq(db) == 7
    first, rest = await events.after(db, 0, 4), await events.after(db, 4, 100)
    assert [e.seq for e in first + rest] == list(range(1, 8))
    assert [e.fields()["n"] for e in first + rest] == list(range(7))
    assert events.canonical(rest[0].fields()) == rest[0].payload


async def test_one_holder_per_sink_and_a_dead_holders_lease_expires(db: Database) -> None:
    cursors = NotificationCursors(db)
    await events.record_batch(db, [events.Pending("x", "blob.pull", "r", {})])
    await cursors.start(["hook"])
    assert await cursors.claim("hook", "one", 30) == 1  # a new sink starts at the end
    assert await cursors.claim("hook", "two", 30) is None
    assert await cursors.advance("hook", "two", 5) is False
    assert await cursors.advance("hook", "one", 5) is True
    assert await cursors.claim("hook", "one", 0) == 5  # renewed, expiring at once
    assert await cursors.claim("hook", "two", 30) == 5  # "one" died: "two" goes on
    assert await cursors.advance("hook", "one", 9) is False
    await cursors.release("hook", "two")
    assert await cursors.claim("hook", "one", 30) == 5
    await cursors.start(["hook", "other"])  # a restart keeps the place of a known sink
    assert await cursors.position("hook") == 5
    assert await cursors.position("other") == 1


async def test_usage_is_counted_when_due(db: Database) -> None:
    found = await usage.refresh(db, 3600)
    assert (found.blobs, found.bytes, found.uploads) == (0, 0, 0)
    assert found.counted is not None
    async with db.write() as conn:
        now = datetime.now(UTC)
        rows = [{"key": f"{n:064x}", "size": 1000 * n, "created": now} for n in (1, 2)]
        await conn.execute(blobs.insert(), rows)
    assert await usage.refresh(db, 3600) == found  # not due: the stored count stands
    counted = await usage.refresh(db, 0)
    assert (counted.blobs, counted.bytes) == (2, 3000)
