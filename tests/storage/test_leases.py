"""Leases on registry-wide jobs, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.database import Database, default_url
from storage.leases import Leases, owner_name
from tests.scaleout.postgres import PostgresServer


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


async def test_one_holder_at_a_time(db: Database) -> None:
    leases, first, second = Leases(db), owner_name(), owner_name()
    assert await leases.claim("gc", first, 30)
    assert not await leases.claim("gc", second, 30)
    assert await leases.claim("gc", first, 30)  # renewed by its holder
    assert await leases.claim("scrub", second, 30)  # another job is another lease
    await leases.release("gc", first)
    assert await leases.claim("gc", second, 30)


async def test_an_expired_lease_is_taken_over(db: Database) -> None:
    leases, dead, alive = Leases(db), owner_name(), owner_name()
    assert await leases.claim("gc", dead, 0.05)
    await asyncio.sleep(0.1)
    assert await leases.claim("gc", alive, 30)
    assert not await leases.claim("gc", dead, 30)


async def test_release_by_another_owner_does_nothing(db: Database) -> None:
    leases, holder, other = Leases(db), owner_name(), owner_name()
    assert await leases.claim("gc", holder, 30)
    await leases.release("gc", other)
    assert not await leases.claim("gc", other, 30)
