"""What only the S3 backend does: prefixes, presigned reads, and a server that is not there."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from storage.errors import Unavailable
from storage.objects import ObjectStore, close, redirect_url
from storage.s3 import S3ObjectStore
from storage.s3_plan import S3Config
from tests.conftest import free_port
from tests.storage.s3server import S3Server


@pytest.fixture
async def s3_store(s3_config: S3Config) -> AsyncIterator[S3ObjectStore]:
    store = await S3ObjectStore.open(dataclasses.replace(s3_config, redirect=True))
    yield store
    assert [key async for key in store.list("")] == []
    await close(store)


async def test_keys_live_under_the_prefix(
    s3_store: S3ObjectStore, s3_server: S3Server, s3_config: S3Config
) -> None:
    await s3_store.put_bytes("blobs/one", b"1")
    assert s3_server.keys(s3_config.bucket, s3_config.prefix) == [f"{s3_config.prefix}/blobs/one"]
    await s3_store.delete("blobs/one")


async def test_presigned_url_serves_the_object_and_ranges(s3_store: S3ObjectStore) -> None:
    data = os.urandom(100_000)
    await s3_store.put_bytes("blobs/signed", data)
    url = await redirect_url(s3_store, "blobs/signed")
    assert url is not None
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=10-19"})
        tampered = await client.get(url.replace("blobs/signed", "blobs/other"))
    assert (whole.status_code, whole.content) == (200, data)
    assert (part.status_code, part.content) == (206, data[10:20])
    assert tampered.status_code == 403
    await s3_store.delete("blobs/signed")


async def test_redirects_only_when_asked(s3_config: S3Config) -> None:
    store = await S3ObjectStore.open(s3_config)
    assert await redirect_url(store, "blobs/any") is None
    await close(store)


async def unreachable(config: S3Config) -> ObjectStore:
    return await S3ObjectStore.open(
        dataclasses.replace(config, endpoint_url=f"http://127.0.0.1:{free_port()}")
    )


async def test_a_server_that_is_not_there_is_unavailable(s3_config: S3Config) -> None:
    store = await unreachable(s3_config)
    with pytest.raises(Unavailable):
        await store.stat("blobs/x")
    with pytest.raises(Unavailable):
        _ = [chunk async for chunk in store.read("blobs/x")]
    writer = await store.open_writer("uploads/x")
    await writer.write(b"bytes")
    with pytest.raises(Unavailable):
        await writer.commit()
    await close(store)
