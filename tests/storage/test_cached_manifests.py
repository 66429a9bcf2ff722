"""What the pull-through cache records of cached tags and digests, on SQLite and on a real
PostgreSQL: what upstream gave, when it was asked, and what gc must keep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import cached_manifests, schema
from storage.database import Database, default_url
from tests.scaleout.postgres import PostgresServer

DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = default_url(tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.emptied_database()
    database = Database(url)
    await database.migrate()
    yield database
    await database.close()


async def test_a_fetch_is_recorded_and_replaced(db: Database) -> None:
    before = datetime.now(UTC)
    assert await cached_manifests.lookup(db, "hub/library/alpine", "3.20") is None
    await cached_manifests.fetched(db, "hub/library/alpine", "3.20", DIGEST_A)
    first = await cached_manifests.lookup(db, "hub/library/alpine", "3.20")
    await cached_manifests.fetched(db, "hub/library/alpine", "3.20", DIGEST_B)
    moved = await cached_manifests.lookup(db, "hub/library/alpine", "3.20")
    assert first is not None and first.digest == DIGEST_A and first.fetched_at >= before
    assert moved is not None and moved.digest == DIGEST_B


async def test_a_pull_is_recorded_for_gc(db: Database) -> None:
    await cached_manifests.fetched(db, "hub/a", "v1", DIGEST_A)
    await cached_manifests.fetched(db, "hub/b", DIGEST_B, DIGEST_B)
    after_fetch = datetime.now(UTC)
    await cached_manifests.pulled(db, "hub/a", ["v1"])
    assert await pulled_since(db, after_fetch) == {("hub/a", DIGEST_A)}
    everything = await pulled_since(db, after_fetch - timedelta(hours=1))
    assert everything == {("hub/a", DIGEST_A), ("hub/b", DIGEST_B)}


async def pulled_since(db: Database, since: datetime) -> set[tuple[str, str]]:
    table = schema.cached_manifests
    query = select(table.c.repository, table.c.digest).where(table.c.last_pulled >= since)
    async with db.read() as conn:
        return {(row.repository, row.digest) for row in await conn.execute(query)}
