"""BlobStore as the one owner of blob bytes: serving (a redirect or opened bytes, with a
range and the local file where there is one) and small content written durably before the
transaction that makes it visible."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from manifests.digest import Digest
from storage import layout
from storage.blobs import Blob, BlobFile, BlobRedirect, BlobStore, BlobStream
from storage.database import Database, default_url
from storage.errors import BlobUnknown
from storage.filesystem import FilesystemObjectStore
from storage.hashing import digests_of
from storage.objects import ObjectStore, close
from storage.s3 import S3ObjectStore
from storage.s3_plan import S3Config

REPO = "blob/store"


@pytest.fixture(params=["filesystem", "s3", "s3-redirect"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "filesystem":
        objects: ObjectStore = FilesystemObjectStore(tmp_path / "objects")
    else:
        config: S3Config = request.getfixturevalue("s3_config")
        redirect = request.param == "s3-redirect"
        objects = await S3ObjectStore.open(dataclasses.replace(config, redirect=redirect))
    db = Database(default_url(tmp_path))
    await db.migrate()
    yield BlobStore(db, objects)
    try:
        await objects.delete("blobs")
        assert [key async for key in objects.list("")] == [], "the test left keys behind"
    finally:
        await db.close()
        await close(objects)


async def store(blobs: BlobStore, data: bytes, repository: str = REPO) -> dict[str, Digest]:
    digests = digests_of(data)
    await blobs.store_bytes(data, digests)
    async with blobs.db.write() as conn:
        await blobs.record(conn, repository, digests, len(data))
    return digests


async def joined(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param((), slice(None), id="whole"),
        pytest.param((10, 20), slice(10, 20), id="range"),
        pytest.param((5 * 1024 * 1024 - 1,), slice(5 * 1024 * 1024 - 1, None), id="tail"),
    ],
)
async def test_open_serves_a_redirect_or_the_bytes(
    blobs: BlobStore, window: tuple[int, ...], expected: slice
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)
    blob = await blobs.resolve(REPO, (await store(blobs, data))["sha256"])
    content = await blobs.open(blob, *window)
    if isinstance(content, BlobRedirect):  # S3 with redirects on serves the range itself
        async with httpx.AsyncClient() as client:
            assert (await client.get(content.url)).content == data
        return
    assert isinstance(content, BlobStream)
    assert await joined(content.chunks) == data[expected]
    start, end, _ = expected.indices(len(data))
    assert (content.start, content.end, content.size) == (start, end, len(data))


@pytest.mark.parametrize(
    ("window", "whole"),
    [pytest.param((), True, id="whole"), pytest.param((10, 20), False, id="range")],
)
async def test_open_as_file_gives_the_whole_blob_of_a_local_store_as_its_file(
    blobs: BlobStore, window: tuple[int, ...], whole: bool
) -> None:
    data = os.urandom(3 * 1024 * 1024)
    blob = await blobs.resolve(REPO, (await store(blobs, data))["sha256"])
    content = await blobs.open(blob, *window, as_file=True)
    if not whole or not isinstance(blobs.objects, FilesystemObjectStore):
        assert not isinstance(content, BlobFile)  # a range, or no files: as without as_file
        return
    assert isinstance(content, BlobFile) and content.size == len(data)
    assert await asyncio.to_thread(Path(content.path).read_bytes) == data


async def test_open_fails_before_a_response_when_the_bytes_are_gone(blobs: BlobStore) -> None:
    if isinstance(blobs.objects, S3ObjectStore) and blobs.objects.redirect_reads:
        pytest.skip("a redirect reads nothing here")
    data = b"soon gone"
    blob = await blobs.resolve(REPO, (await store(blobs, data))["sha256"])
    await blobs.objects.delete(layout.blob_key(blob.key))
    with pytest.raises(BlobUnknown):  # a row without its bytes is answered as unknown
        await blobs.open(blob)
    with pytest.raises(BlobUnknown):
        await blobs.open(blob, as_file=True)
    with pytest.raises(BlobUnknown):
        await blobs.check_stored(blob)


async def test_small_content_is_durable_before_and_visible_only_after_its_transaction(
    blobs: BlobStore,
) -> None:
    data = b'{"small": "content"}'
    digests = digests_of(data)
    stored = await blobs.store_bytes(data, digests)
    assert stored == Blob(digests["blake3"].hex, len(data))
    assert await blobs.objects.stat(layout.blob_key(stored.key)) == len(data)
    with pytest.raises(BlobUnknown):  # written, but no transaction has recorded it
        await blobs.resolve(REPO, digests["sha256"])
    with pytest.raises(RuntimeError):
        async with blobs.db.write() as conn:
            await blobs.record(conn, REPO, digests, len(data))
            raise RuntimeError("the caller's transaction fails")
    with pytest.raises(BlobUnknown):  # rolled back with the caller's transaction
        await blobs.resolve(REPO, digests["sha256"])
    async with blobs.db.write() as conn:
        await blobs.record(conn, REPO, digests, len(data))
    for digest in digests.values():
        assert await blobs.resolve(REPO, digest) == stored
    assert await blobs.read_bytes(stored) == data
    with pytest.raises(BlobUnknown):  # visible to that repository only
        await blobs.resolve("blob/other", digests["sha256"])
