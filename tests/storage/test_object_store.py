"""The shared backend suite: every ObjectStore method, on the filesystem and on S3.

The `store` fixture (conftest) runs each test once per backend and fails a test
that leaves keys (or, on S3, unfinished multipart uploads) behind.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from storage.objects import READ_CHUNK, ObjectStore, appending

M = 1024 * 1024


async def read_all(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


async def write(store: ObjectStore, key: str, *chunks: bytes) -> None:
    writer = await store.open_writer(key)
    for chunk in chunks:
        await writer.write(chunk)
    await writer.commit()


async def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [key async for key in store.list(prefix)]


async def test_missing_key(store: ObjectStore) -> None:
    assert await store.stat("nothing/here") is None
    with pytest.raises(FileNotFoundError):
        await read_all(store, "nothing/here")
    await store.delete("nothing/here")
    assert await keys(store) == []


async def test_put_bytes_round_trip(store: ObjectStore) -> None:
    await store.put_bytes("small/one", b"hello")
    await store.put_bytes("small/empty", b"")
    assert (await store.stat("small/one"), await store.stat("small/empty")) == (5, 0)
    assert (await read_all(store, "small/one"), await read_all(store, "small/empty")) == (
        b"hello",
        b"",
    )
    await store.delete("small")


DATA = os.urandom(3 * READ_CHUNK + 5)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(0, None, id="whole"),
        pytest.param(0, 1, id="first-byte"),
        pytest.param(10, 20, id="inside"),
        pytest.param(READ_CHUNK - 3, 2 * READ_CHUNK + 3, id="across-chunks"),
        pytest.param(len(DATA) - 1, None, id="last-byte"),
        pytest.param(len(DATA), None, id="at-end"),
        pytest.param(7, 7, id="empty"),
        pytest.param(5, len(DATA) + 100, id="past-end"),
    ],
)
async def test_range_reads(store: ObjectStore, start: int, end: int | None) -> None:
    await store.put_bytes("ranged", DATA)
    assert await read_all(store, "ranged", start, end) == DATA[start:end]
    await store.delete("ranged")


async def test_reads_come_in_bounded_chunks(store: ObjectStore) -> None:
    await store.put_bytes("chunked", DATA)
    sizes = [len(chunk) async for chunk in store.read("chunked")]
    assert sum(sizes) == len(DATA) and max(sizes) <= READ_CHUNK
    await store.delete("chunked")


async def test_writer_object_appears_whole_on_commit(store: ObjectStore) -> None:
    writer = await store.open_writer("w/obj")
    await writer.write(b"abc")
    await writer.write(b"def")
    assert await store.stat("w/obj") is None
    await writer.commit()
    assert await read_all(store, "w/obj") == b"abcdef"
    await store.delete("w")


async def test_writer_of_nothing_makes_an_empty_object(store: ObjectStore) -> None:
    await write(store, "w/empty")
    assert (await store.stat("w/empty"), await read_all(store, "w/empty")) == (0, b"")
    await store.delete("w/empty")


async def test_writer_abort_leaves_nothing(store: ObjectStore) -> None:
    writer = await store.open_writer("w/aborted")
    await writer.write(os.urandom(12 * M))  # several S3 parts already sent
    await writer.abort()
    assert await store.stat("w/aborted") is None


async def test_writer_replaces_on_commit_and_abort_keeps_the_old(store: ObjectStore) -> None:
    await write(store, "w/key", b"old")
    writer = await store.open_writer("w/key")
    await writer.write(b"never")
    await writer.abort()
    assert await read_all(store, "w/key") == b"old"
    await write(store, "w/key", b"new", b"er")
    assert await read_all(store, "w/key") == b"newer"
    await store.delete("w/key")


async def test_large_multipart_write(store: ObjectStore) -> None:
    data = os.urandom(16 * M + 12345)
    pieces = [data[i : i + 700_001] for i in range(0, len(data), 700_001)]
    await write(store, "big/obj", *pieces)
    assert await store.stat("big/obj") == len(data)
    assert await read_all(store, "big/obj") == data
    assert await read_all(store, "big/obj", 5 * M - 10, 5 * M + 10) == data[5 * M - 10 : 5 * M + 10]
    await store.delete("big/obj")


@pytest.mark.parametrize(
    "size", [pytest.param(10, id="small"), pytest.param(13 * M, id="ranged-copy")]
)
async def test_publish_moves_the_object(store: ObjectStore, size: int) -> None:
    data = os.urandom(size)
    await write(store, "uploads/x/data", data)
    await store.publish("uploads/x/data", "blobs/target")
    assert await store.stat("uploads/x/data") is None
    assert await read_all(store, "blobs/target") == data
    await store.delete("blobs/target")


async def test_publish_onto_an_existing_target_is_done(store: ObjectStore) -> None:
    await store.put_bytes("blobs/target", b"first")
    await store.put_bytes("uploads/y/data", b"again")
    await store.publish("uploads/y/data", "blobs/target")
    await store.publish("uploads/y/data", "blobs/target")  # the source already went: still done
    assert await read_all(store, "blobs/target") == b"first"
    assert await keys(store) == ["blobs/target"]
    await store.delete("blobs/target")


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([3, 4, 5], id="small-pieces"),
        pytest.param([6 * M, 10, 7 * M, 3], id="large-and-small"),
        pytest.param([2 * M, 2 * M, 2 * M, 12 * M, 1], id="small-run-then-large"),
        pytest.param([0, 5], id="with-empty"),
        pytest.param([11 * M], id="one-large"),
    ],
)
async def test_compose(store: ObjectStore, sizes: list[int]) -> None:
    pieces = [os.urandom(size) for size in sizes]
    sources = [f"parts/{n:04d}" for n in range(len(pieces))]
    for source, piece in zip(sources, pieces, strict=True):
        await store.put_bytes(source, piece)
    await store.compose(sources, "blobs/whole")
    assert await read_all(store, "blobs/whole") == b"".join(pieces)
    assert await keys(store, "parts") == sources
    await store.compose(sources[:1], "blobs/whole")  # an existing target means done
    assert await store.stat("blobs/whole") == sum(sizes)
    await store.delete("parts")
    await store.delete("blobs/whole")


async def test_compose_of_nothing_is_empty(store: ObjectStore) -> None:
    await store.compose([], "blobs/empty")
    assert await store.stat("blobs/empty") == 0
    await store.delete("blobs/empty")


async def test_compose_of_a_missing_source_fails(store: ObjectStore) -> None:
    await store.put_bytes("parts/a", b"a")
    with pytest.raises(FileNotFoundError):
        await store.compose(["parts/a", "parts/missing"], "blobs/never")
    assert await keys(store) == ["parts/a"]
    await store.delete("parts/a")


async def test_list_and_delete_by_prefix(store: ObjectStore) -> None:
    for key in ("a/x", "a/y/z", "ab/c", "b"):
        await store.put_bytes(key, key.encode())
    assert await keys(store) == ["a/x", "a/y/z", "ab/c", "b"]
    assert await keys(store, "a") == ["a/x", "a/y/z"]
    assert await keys(store, "a/y/z") == ["a/y/z"]
    assert await keys(store, "a/y") == ["a/y/z"]
    await store.delete("a")
    assert await keys(store) == ["ab/c", "b"]
    await store.delete("b")
    await store.delete("ab/c")


async def test_calls_leave_the_event_loop_free(store: ObjectStore) -> None:
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    await store.put_bytes("loop/free", os.urandom(8 * M))
    during = ticks - before
    done.set()
    await ticker
    assert during > 0
    await store.delete("loop")


async def test_appending_in_place(store: ObjectStore) -> None:
    appender = appending(store)
    if appender is None:
        pytest.skip("this backend cannot append: uploads keep one object per chunk")
    for start, data, keep in [
        (0, b"abc", True),
        (3, b"def", False),
        (3, b"xyz", True),
        (2, b"Q", True),
    ]:
        writer = await appender.open_appender("a/obj", start)
        await writer.write(data)
        await (writer.commit() if keep else writer.abort())
    assert await read_all(store, "a/obj") == b"abQ"  # a start before the end cuts the tail first
    await store.delete("a")
