"""Upload sessions on every kind of store: appended in place (filesystem), or one object per
chunk (S3, and the filesystem with appending turned off), with the hash state rebuilt when
another process (a replica) takes a session over."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from manifests.digest import Digest
from storage.blobs import BlobStore
from storage.database import Database, default_url
from storage.errors import BlobUploadInvalid, BlobUploadUnknown, DigestMismatch, RangeInvalid
from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectStore, close
from storage.s3 import S3ObjectStore
from storage.s3_plan import S3Config
from storage.uploads import Upload, UploadSessions

M = 1024 * 1024
REPO = "up/repo"


@dataclass
class Replicas:
    """Two processes' worth of upload sessions over one database and one object store."""

    objects: ObjectStore
    blobs: BlobStore
    one: UploadSessions
    two: UploadSessions

    async def read(self, data: bytes) -> bytes:
        blob = await self.blobs.resolve(REPO, sha256(data))
        return b"".join([chunk async for chunk in self.blobs.read(blob)])

    async def keys(self, prefix: str = "") -> list[str]:
        return [key async for key in self.objects.list(prefix)]


@pytest.fixture(params=["filesystem", "filesystem-parts", "s3"])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replicas]:
    if request.param == "s3":
        config: S3Config = request.getfixturevalue("s3_config")
        objects: ObjectStore = await S3ObjectStore.open(config)
    else:
        objects = FilesystemObjectStore(tmp_path / "objects", appends=request.param == "filesystem")
    db = Database(default_url(tmp_path))
    await db.migrate()
    blobs = BlobStore(db, objects)
    setup = Replicas(
        objects, blobs, UploadSessions(db, objects, blobs), UploadSessions(db, objects, blobs)
    )
    yield setup
    try:
        assert await setup.keys("uploads") == [], "an upload left keys behind"
        await objects.delete("blobs")
        assert await setup.keys() == []
    finally:
        await db.close()
        await close(objects)


def sha256(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


async def stream(data: bytes, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def broken(data: bytes) -> AsyncIterator[bytes]:
    async for chunk in stream(data):
        yield chunk
    raise ConnectionResetError("client went away")


class StalledClient:
    """Sends `size` bytes, then nothing more (a client that stopped halfway)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stalled = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in stream(os.urandom(self.size)):
            yield chunk
        self.stalled.set()
        await asyncio.Event().wait()


async def append_all(sessions: list[UploadSessions], upload: Upload, chunks: list[bytes]) -> Upload:
    for n, chunk in enumerate(chunks):
        upload = await sessions[n % len(sessions)].append(
            upload.repository, upload.id, stream(chunk), upload.size
        )
    return upload


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([100, 200, 300], id="small"),
        pytest.param([6 * M, 1000, 5 * M + 1, 7], id="large-and-small"),
        pytest.param([M] * 7, id="short-run-then-more"),
    ],
)
async def test_chunks_taken_in_turn_by_two_replicas(replicas: Replicas, sizes: list[int]) -> None:
    chunks = [os.urandom(size) for size in sizes]
    data = b"".join(chunks)
    upload = await replicas.one.start(REPO)
    upload = await append_all([replicas.one, replicas.two], upload, chunks)
    assert upload.size == len(data)
    assert await replicas.two.finish(upload.repository, upload.id, sha256(data), "test") == sha256(
        data
    )
    assert await replicas.read(data) == data


async def test_a_replica_taking_its_turn_reads_only_what_the_other_wrote(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks alternating between two processes: each catches up on the other's chunks
    since its last turn, not on the whole session (which would read 28 chunks for 8)."""
    read = replicas.objects.read
    counted = [0]

    async def counting(key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in read(key, start, end):
            counted[0] += len(chunk)
            yield chunk

    monkeypatch.setattr(replicas.objects, "read", counting)
    chunks = [os.urandom(M) for _ in range(8)]
    data = b"".join(chunks)
    upload = await append_all([replicas.one, replicas.two], await replicas.one.start(REPO), chunks)
    assert await replicas.one.finish(REPO, upload.id, sha256(data), "test") == sha256(data)
    assert counted[0] <= 2 * len(data)  # the other's chunks once, and S3's compose of short parts
    assert await replicas.read(data) == data


async def test_a_chunk_that_breaks_off_leaves_the_session_as_it_was(replicas: Replicas) -> None:
    first, second = os.urandom(6 * M), os.urandom(2 * M)
    upload = await replicas.one.start(REPO)
    upload = await replicas.one.append(upload.repository, upload.id, stream(first))
    with pytest.raises(ConnectionResetError):
        await replicas.one.append(upload.repository, upload.id, broken(os.urandom(3 * M)))
    with pytest.raises(RangeInvalid):
        await replicas.one.append(upload.repository, upload.id, stream(second), start=0)
    upload = await replicas.two.append(
        upload.repository, upload.id, stream(second), start=len(first)
    )
    await replicas.one.finish(upload.repository, upload.id, sha256(first + second), "test")
    assert await replicas.read(first + second) == first + second


async def test_a_short_chunk_is_refused(replicas: Replicas) -> None:
    upload = await replicas.one.start(REPO)
    with pytest.raises(BlobUploadInvalid):
        await replicas.one.append(upload.repository, upload.id, stream(b"12345"), length=6)
    upload = await replicas.one.append(upload.repository, upload.id, stream(b"123456"), length=6)
    await replicas.one.finish(upload.repository, upload.id, sha256(b"123456"), "test")


async def test_a_wrong_digest_publishes_nothing(replicas: Replicas) -> None:
    data = os.urandom(6 * M)
    started = await replicas.one.start(REPO)
    upload = await replicas.one.append(REPO, started.id, stream(data))
    with pytest.raises(DigestMismatch):
        await replicas.two.finish(upload.repository, upload.id, sha256(b"other"), "test")
    assert await replicas.keys() == []


async def test_cancel_and_empty_uploads(replicas: Replicas) -> None:
    started = await replicas.one.start(REPO)
    cancelled = await replicas.one.append(REPO, started.id, stream(b"abc"))
    await replicas.two.cancel(cancelled)
    empty = await replicas.one.start(REPO)
    await replicas.one.finish(empty.repository, empty.id, sha256(b""), "test")
    assert await replicas.read(b"") == b""


async def test_whole_blob_push_and_a_broken_one(replicas: Replicas) -> None:
    data = os.urandom(11 * M)
    assert await replicas.one.push(REPO, sha256(data), stream(data), "test") == sha256(data)
    with pytest.raises(ConnectionResetError):
        await replicas.one.push(REPO, sha256(b"x" * 3 * M), broken(b"x" * 3 * M), "test")
    assert await replicas.read(data) == data


async def test_a_last_chunk_closes_the_session_with_the_blob(replicas: Replicas) -> None:
    first, last = os.urandom(6 * M), os.urandom(M + 5)
    started = await replicas.one.start(REPO)
    await replicas.one.append(REPO, started.id, stream(first))
    with pytest.raises(RangeInvalid):  # the last chunk must start where the session ends
        await replicas.two.finish(REPO, started.id, sha256(first + last), "test", stream(last), 0)
    digest = sha256(first + last)
    assert await replicas.two.finish(REPO, started.id, digest, "test", stream(last), len(first))
    assert await replicas.read(first + last) == first + last
    with pytest.raises(BlobUploadUnknown):  # its row went with the publish
        await replicas.one.get(REPO, started.id)


async def test_a_wrong_last_chunk_drops_the_session(replicas: Replicas) -> None:
    started = await replicas.one.start(REPO)
    with pytest.raises(DigestMismatch):
        await replicas.one.finish(REPO, started.id, sha256(b"abc"), "test", stream(b"abd"))
    assert await replicas.keys() == []
    with pytest.raises(BlobUploadUnknown):
        await replicas.two.get(REPO, started.id)


async def test_a_cancel_ends_the_requests_streaming_into_the_session(replicas: Replicas) -> None:
    kept = os.urandom(M)
    started = await replicas.one.start(REPO)
    upload = await replicas.one.append(REPO, started.id, stream(kept))
    client = StalledClient(6 * M)
    streaming = asyncio.create_task(replicas.one.append(REPO, upload.id, client.chunks()))
    queued = asyncio.create_task(replicas.one.append(REPO, upload.id, stream(b"more")))
    closing = asyncio.create_task(replicas.one.finish(REPO, upload.id, sha256(kept), "test"))
    await client.stalled.wait()
    async with asyncio.timeout(10):  # it does not wait for the stalled client
        await replicas.one.cancel(upload)
    for request in (streaming, queued, closing):
        with pytest.raises(BlobUploadUnknown):
            await request
    with pytest.raises(BlobUploadUnknown):
        await replicas.two.get(REPO, upload.id)


async def test_a_cancel_after_the_close_finds_no_session(replicas: Replicas) -> None:
    started = await replicas.one.start(REPO)
    await replicas.one.finish(REPO, started.id, sha256(b"abc"), "test", stream(b"abc"))
    with pytest.raises(BlobUploadUnknown):
        await replicas.two.cancel(started)
