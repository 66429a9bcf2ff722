"""Leases on registry-wide jobs, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
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


async def test_a_lease_whose_holder_died_on_this_machine_is_taken_over(db: Database) -> None:
    leases = Leases(db)
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()  # exited and reaped: its pid names no process now
    dead = f"{socket.gethostname()[:64]}/{child.pid}/deadbeef"
    alive, elsewhere = owner_name(), f"another-host.invalid/{os.getpid()}/cafe"
    assert await leases.claim("gc", dead, 600)
    assert await leases.claim_from_dead("gc", alive, 30)
    await leases.release("gc", alive)
    assert await leases.claim("gc", elsewhere, 600)
    assert not await leases.claim_from_dead("gc", alive, 30)  # another machine: wait it out
