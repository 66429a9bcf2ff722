"""One pass over the bytes computes every digest a blob needs.

sha256 is what clients name blobs by, blake3 is the storage key, and sha512 is
added when an upload asks for it. The hashers release the GIL on large
buffers, so updates run in a worker thread while the event loop keeps reading.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol

import blake3

from manifests.digest import Digest
from storage.errors import BlobCorrupt

# Hand updates to a worker thread only above this size; below it the thread
# hop costs more than the hash.
THREAD_THRESHOLD = 256 * 1024


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...
    def hexdigest(self) -> str: ...


def _new_hasher(algorithm: str) -> _Hasher:
    if algorithm == "blake3":
        return blake3.blake3(max_threads=1)
    return hashlib.new(algorithm)


class Verifier:
    """Running digests of a byte stream under several algorithms at once."""

    def __init__(self, algorithms: Iterable[str] = ()) -> None:
        names = dict.fromkeys(("sha256", "blake3", *algorithms))
        self._hashers = {name: _new_hasher(name) for name in names}
        self.size = 0

    @property
    def algorithms(self) -> frozenset[str]:
        return frozenset(self._hashers)

    def update(self, data: bytes) -> None:
        for hasher in self._hashers.values():
            hasher.update(data)
        self.size += len(data)

    async def update_async(self, data: bytes) -> None:
        """Each algorithm in its own worker thread, so they run on separate cores."""
        if len(data) < THREAD_THRESHOLD:
            self.update(data)
            return
        await asyncio.gather(*(asyncio.to_thread(h.update, data) for h in self._hashers.values()))
        self.size += len(data)

    def digests(self) -> dict[str, Digest]:
        return {name: Digest(name, h.hexdigest()) for name, h in self._hashers.items()}

    def digest(self, algorithm: str) -> Digest:
        return Digest(algorithm, self._hashers[algorithm].hexdigest())


def digests_of(data: bytes, algorithms: Iterable[str] = ()) -> dict[str, Digest]:
    verifier = Verifier(algorithms)
    verifier.update(data)
    return verifier.digests()


async def rechunk(chunks: AsyncIterator[bytes], size: int, ahead: int = 2) -> AsyncIterator[bytes]:
    """Regroup a stream of small chunks into buffers of at least `size` bytes.

    A background task keeps reading up to `ahead` buffers while the consumer
    hashes and writes the current one, so the network and the hashers overlap.
    """
    queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue(maxsize=ahead)

    async def produce() -> None:
        try:
            async for buffer in _regroup(chunks, size):
                await queue.put(buffer)
            await queue.put(None)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)

    task = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        task.cancel()


async def _regroup(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending.clear()
            held = 0
    if pending:
        yield b"".join(pending)


async def checked(
    chunks: AsyncIterator[bytes],
    blake3_hex: str,
    size: int,
    on_mismatch: Callable[[], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """`chunks`, hashed as they pass, each held back until the next arrives: the last one
    goes out only once the whole has hashed to `blake3_hex` and `size`. On a mismatch
    `on_mismatch` runs and BlobCorrupt is raised instead, so a reader never receives a
    complete wrong body (a response already started is cut short)."""
    hasher = blake3.blake3(max_threads=1)
    seen = 0
    held: bytes | None = None
    async for chunk in chunks:
        await _hash_update(hasher, chunk)
        seen += len(chunk)
        if held is not None:
            yield held
        held = chunk
    if seen != size or hasher.hexdigest() != blake3_hex:
        await on_mismatch()
        raise BlobCorrupt({"key": blake3_hex, "size": seen})
    if held is not None:
        yield held


async def _hash_update(hasher: blake3.blake3, chunk: bytes) -> None:
    if len(chunk) < THREAD_THRESHOLD:
        hasher.update(chunk)
    else:
        await asyncio.to_thread(hasher.update, chunk)
