"""Upload session state in memory stays bounded when clients abandon sessions: idle states
and the least recently used past a limit are dropped, never one a request holds or waits
for, and a session whose state was dropped still closes correctly."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from manifests.digest import Digest
from storage.blobs import BlobStore
from storage.database import Database, default_url
from storage.filesystem import FilesystemObjectStore
from storage.hashing import Verifier
from storage.upload_state import Progress, SessionStates
from storage.uploads import UploadSessions

IDLE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress() -> Progress:
    return Progress(Verifier(), [])


def test_idle_states_are_dropped() -> None:
    clock = Clock()
    states = SessionStates(limit=100, idle=IDLE, clock=clock)
    states.keep("old", progress())
    clock.now += IDLE / 2
    states.keep("recent", progress())
    clock.now += IDLE / 2 + 1
    states.keep("new", progress())
    assert states.progress("old") is None
    assert states.progress("recent") is not None
    assert len(states) == 2


async def test_past_the_limit_the_least_recently_used_go() -> None:
    clock = Clock()
    states = SessionStates(limit=3, idle=IDLE, clock=clock)
    for n in range(3):
        states.keep(f"s{n}", progress())
        clock.now += 1
    async with states.lock("s0"):  # used again: now the most recent
        pass
    states.keep("s3", progress())
    assert [states.progress(f"s{n}") is not None for n in range(4)] == [True, False, True, True]
    assert len(states) == 3


async def test_a_lock_in_use_is_never_dropped() -> None:
    clock = Clock()
    states = SessionStates(limit=1, idle=IDLE, clock=clock)
    order: list[str] = []
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with states.lock("busy"):
            held.set()
            await release.wait()
            order.append("holder done")

    async def waiter(name: str) -> None:
        async with states.lock("busy"):
            order.append(name)

    tasks = [asyncio.create_task(holder())]
    await held.wait()
    tasks.append(asyncio.create_task(waiter("waiter in")))
    await asyncio.sleep(0)
    clock.now += 10 * IDLE
    for n in range(5):  # past the limit and long idle: only states nobody uses go
        states.keep(f"other{n}", progress())
    assert len(states) == 1  # "busy" stayed; each "other" went at once, past the limit
    assert states.progress("other4") is None
    tasks.append(asyncio.create_task(waiter("late in")))  # came after the pruning
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["holder done", "waiter in", "late in"]  # all three shared one lock


def test_forget_drops_a_session() -> None:
    states = SessionStates()
    states.keep("done", progress())
    states.forget("done")
    assert (states.progress("done"), len(states)) == (None, 0)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(default_url(tmp_path))
    await database.migrate()
    yield database
    await database.close()


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_abandoned_sessions_do_not_pile_up_and_a_dropped_one_still_closes(
    db: Database, tmp_path: Path
) -> None:
    objects = FilesystemObjectStore(tmp_path / "objects", appends=False)
    states = SessionStates(limit=4)
    sessions = UploadSessions(db, objects, BlobStore(db, objects), states)
    chunks = {}
    for n in range(12):  # each gets a chunk, and then its client goes away
        upload = await sessions.start("abandoned/repo")
        chunks[upload.id] = os.urandom(1000 + n)
        await sessions.append(upload.repository, upload.id, one(chunks[upload.id]))
        assert len(states) <= 4
    first = next(iter(chunks))
    assert states.progress(first) is None  # dropped: rebuilt from the stored part on close
    data = chunks[first]
    digest = Digest("sha256", hashlib.sha256(data).hexdigest())
    assert await sessions.finish("abandoned/repo", first, digest, "test") == digest
    assert states.progress(first) is None
