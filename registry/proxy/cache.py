"""The pull-through cache: what a cached repository holds, fetched from its upstream on a
miss and stored as ordinary content.

Manifests. By digest, one stored is served as it is (content under a digest never
changes). By tag, one upstream confirmed less than its `ttl` ago is served as it
is; an older one is checked with a HEAD, and fetched again (a GET by digest) only
when upstream's digest moved. An upstream that does not answer leaves the cached
tag in service, with a warning. A fetched manifest is stored without what it
references, which follows as clients ask for it.

Blobs. A blob the repository lacks is streamed from upstream to the client while
the same bytes go into the store through the push path (sha256 and BLAKE3 in one
pass; published only when the digest matches). One fetch per digest at a time:
another request for it, in this process or another sharing the data directory,
waits for that fetch and is then served from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from manifests.digest import Digest, is_digest_reference
from registry.errors import UpstreamUnavailable
from registry.proxy.client import UpstreamClient, UpstreamMissing
from registry.proxy.upstreams import Route, Upstreams
from storage import cached_manifests
from storage.blobs import Blob
from storage.errors import BlobUnknown, ManifestUnknown
from storage.file_locks import FileLocks
from storage.store import Storage

log = logging.getLogger("artifact-store.proxy")
PULL_NOTE_EVERY = 60.0  # seconds: a cached manifest's last pull is written at most this often
QUEUED_CHUNKS = 8  # of up to CHUNK bytes each: what a fetch holds for a slow first client
CHUNK = 1024 * 1024
ACTOR = "pull-through-cache"

LOOKUPS = Counter(
    "artifact_store_proxy_lookups",
    "Manifests and blobs asked of cached repositories, by where the answer came from",
    ["upstream", "kind", "source"],  # source: cache, upstream, stale (upstream unreachable)
)
FETCHED_BYTES = Counter(
    "artifact_store_proxy_fetched_bytes", "Blob bytes fetched from upstreams", ["upstream"]
)


@dataclass
class BlobFetch:
    """A blob on its way from upstream: its bytes as they arrive, for the first client."""

    size: int | None
    queue: asyncio.Queue[bytes | BaseException | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUED_CHUNKS)
    )
    detached: bool = False  # the client went away: the fetch goes on into the store alone
    held: bytes = b""  # the last chunk, sent once the store has published the blob

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.detached = True
            while not self.queue.empty():  # frees a fetch waiting to queue one more
                self.queue.get_nowait()

    async def offer(self, item: bytes | BaseException | None) -> None:
        if not self.detached:
            await self.queue.put(item)


class PullThroughCache:
    def __init__(self, storage: Storage, upstreams: Upstreams, locks: FileLocks | None) -> None:
        self.storage = storage
        self.upstreams = upstreams
        self.clients = {u.prefix: UpstreamClient(u) for u in upstreams.all}
        self._locks = locks
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self._pull_notes: dict[tuple[str, str], float] = {}

    async def close(self) -> None:
        for task in list(self._fetches.values()):
            task.cancel()
        await asyncio.gather(*self._fetches.values(), return_exceptions=True)
        for client in self.clients.values():
            await client.close()

    # Manifests

    async def manifest(self, route: Route, reference: str) -> None:
        """Make the manifest `reference` names current in the cached repository."""
        if is_digest_reference(reference):
            await self._by_digest(route, reference)
        else:
            await self._by_tag(route, reference)
        await self._note_pull(route.local, reference)

    async def _by_digest(self, route: Route, digest: str) -> None:
        if await self.has_manifest(route.local, digest):
            self._count(route, "manifest", "cache")
            return
        await self._fetch_manifest(route, digest, None)

    async def _by_tag(self, route: Route, tag: str) -> None:
        known = await cached_manifests.lookup(self.storage.db, route.local, tag)
        fresh = known is not None and _age(known.fetched_at) < route.upstream.ttl
        if fresh and await self.has_manifest(route.local, tag):
            self._count(route, "manifest", "cache")
            return
        if known is None:  # never fetched: straight to the GET, no HEAD first
            await self._fetch_manifest(route, tag, tag)
            return
        try:
            remote = await self._client(route).manifest(route.remote, tag, body=False)
        except UpstreamMissing:
            raise ManifestUnknown({"reference": tag}) from None
        except UpstreamUnavailable as unreachable:
            await self._stale(route, tag, unreachable)
            return
        if known.digest == remote.digest and await self.has_manifest(route.local, tag):
            await cached_manifests.fetched(self.storage.db, route.local, tag, remote.digest)
            self._count(route, "manifest", "cache")
            return
        await self._fetch_manifest(route, remote.digest or tag, tag)

    async def _stale(self, route: Route, tag: str, unreachable: UpstreamUnavailable) -> None:
        """Upstream did not answer: the cached tag serves, past its ttl, if there is one."""
        if not await self.has_manifest(route.local, tag):
            raise unreachable
        log.warning(
            "upstream %s unreachable: serving %s:%s from the cache past its ttl",
            route.upstream.prefix,
            route.local,
            tag,
        )
        self._count(route, "manifest", "stale")

    async def _fetch_manifest(self, route: Route, reference: str, tag: str | None) -> None:
        try:
            remote = await self._client(route).manifest(route.remote, reference, body=True)
        except UpstreamMissing:
            raise ManifestUnknown({"reference": tag or reference}) from None
        assert remote.body is not None
        stored = await self.storage.manifests.put(
            route.local,
            reference,
            remote.body,
            remote.media_type,
            [tag] if tag else [],
            ACTOR,
            complete=False,
        )
        for name in dict.fromkeys([tag or stored.digest, stored.digest]):
            await cached_manifests.fetched(self.storage.db, route.local, name, stored.digest)
        self._count(route, "manifest", "upstream")

    async def has_manifest(self, repository: str, reference: str) -> bool:
        try:
            await self.storage.manifests.stat(repository, reference)
        except ManifestUnknown:
            return False
        return True

    async def _note_pull(self, repository: str, reference: str) -> None:
        """Write when a cached manifest was pulled, for gc; at most once a minute for each."""
        key, at = (repository, reference), time.monotonic()
        if at - self._pull_notes.get(key, -PULL_NOTE_EVERY) < PULL_NOTE_EVERY:
            return
        self._pull_notes[key] = at
        await cached_manifests.pulled(self.storage.db, repository, [reference])

    # Blobs

    async def blob(self, route: Route, digest: Digest) -> Blob | BlobFetch:
        """The stored blob, or one being fetched for this client to stream."""
        try:
            found = await self.storage.blobs.resolve(route.local, digest)
        except BlobUnknown:
            pass
        else:
            self._count(route, "blob", "cache")
            return found
        running = self._fetches.get(_fetch_key(route, digest))
        if running is not None:  # another client's fetch: wait for it, then read the store
            await asyncio.shield(running)
            found = await self.storage.blobs.resolve(route.local, digest)
            self._count(route, "blob", "cache")
            return found
        return await self._start_fetch(route, digest)

    async def blob_size(self, route: Route, digest: Digest) -> int | None:
        """The size of a blob (stored or upstream's), for a HEAD."""
        try:
            return (await self.storage.blobs.resolve(route.local, digest)).size
        except BlobUnknown:
            pass
        try:
            return await self._client(route).blob_size(route.remote, str(digest))
        except UpstreamMissing:
            raise BlobUnknown({"digest": str(digest)}) from None

    async def _start_fetch(self, route: Route, digest: Digest) -> Blob | BlobFetch:
        started: asyncio.Future[Blob | BlobFetch] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._fetch_blob(route, digest, started))
        key = _fetch_key(route, digest)
        self._fetches[key] = task
        task.add_done_callback(lambda _: self._fetches.pop(key, None))
        return await started

    async def _fetch_blob(
        self, route: Route, digest: Digest, started: asyncio.Future[Blob | BlobFetch]
    ) -> None:
        fetch: BlobFetch | None = None
        try:
            async with self._single_flight(str(digest)):
                with contextlib.suppress(BlobUnknown):  # another process fetched it meanwhile
                    started.set_result(await self.storage.blobs.resolve(route.local, digest))
                    self._count(route, "blob", "cache")
                    return
                adopted = await self._adopted(route, digest)
                if adopted is not None:
                    started.set_result(adopted)
                    return
                async with self._client(route).blob(route.remote, str(digest)) as response:
                    fetch = BlobFetch(_length(response.headers.get("content-length")))
                    started.set_result(fetch)
                    chunks = self._teed(route, response.aiter_bytes(CHUNK), fetch)
                    await self.storage.uploads.push(route.local, digest, chunks, ACTOR, fetch.size)
            self._count(route, "blob", "upstream")
            if fetch.held:
                await fetch.offer(fetch.held)
            await fetch.offer(None)
        except UpstreamMissing:
            await _fail(started, fetch, BlobUnknown({"digest": str(digest)}))
        except Exception as exc:
            await _fail(started, fetch, exc)
        except BaseException:  # cancelled: the server is stopping
            stopped = UpstreamUnavailable({"upstream": route.upstream.prefix})
            if not started.done():
                started.set_exception(stopped)
            raise

    async def _adopted(self, route: Route, digest: Digest) -> Blob | None:
        """Bytes another repository already holds (a base layer shared by many images):
        once upstream confirms this repository has them (a HEAD), linked, not fetched."""
        if not await self.storage.blobs.stored_anywhere(digest):
            return None
        await self._client(route).blob_size(route.remote, str(digest))  # 404: BlobUnknown
        adopted = await self.storage.blobs.adopt(route.local, digest, ACTOR)
        if adopted is not None:
            self._count(route, "blob", "cache")
        return adopted

    async def _teed(
        self, route: Route, chunks: AsyncIterator[bytes], fetch: BlobFetch
    ) -> AsyncIterator[bytes]:
        """The upstream's bytes for the store, each also offered to the first client but the
        last, which waits for the publish: a client holding the whole blob finds it stored
        on its next request, whichever process serves that."""
        async for chunk in chunks:
            FETCHED_BYTES.labels(route.upstream.prefix).inc(len(chunk))
            if fetch.held:
                await fetch.offer(fetch.held)
            fetch.held = chunk
            yield chunk

    @contextlib.asynccontextmanager
    async def _single_flight(self, key: str) -> AsyncIterator[None]:
        if self._locks is None:
            yield
            return
        async with self._locks.hold(f"proxy-fetch:{key}"):
            yield

    def _client(self, route: Route) -> UpstreamClient:
        return self.clients[route.upstream.prefix]

    @staticmethod
    def _count(route: Route, kind: str, source: str) -> None:
        LOOKUPS.labels(route.upstream.prefix, kind, source).inc()


async def _fail(
    started: asyncio.Future[Blob | BlobFetch], fetch: BlobFetch | None, exc: Exception
) -> None:
    """Tell the first client: before its response started, or by ending its stream."""
    if not started.done():
        started.set_exception(exc)
    elif fetch is not None:
        await fetch.offer(exc)
    if not isinstance(exc, BlobUnknown | UpstreamUnavailable):
        log.warning("fetch from upstream failed: %r", exc)


def _fetch_key(route: Route, digest: Digest) -> str:
    return f"{route.local}@{digest}"


def _age(at: datetime) -> float:
    return (datetime.now(UTC) - at).total_seconds()


def _length(header: str | None) -> int | None:
    return int(header) if header is not None and header.isdigit() else None
