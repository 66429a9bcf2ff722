"""The blob store: digests over an object store, with global dedupe and
per-repository visibility. It owns blob bytes: nothing else reads or writes a
published blob in the object store. (Upload sessions compose several parts
straight under the blob key, then hand over to `publish`.)

Bytes live once under their BLAKE3 key; the alias table maps sha256, sha512
and blake3 digests to that key. A blob becomes visible to a repository only
after its bytes are durable and, in one transaction, its aliases, the
repository link and the event are committed. Uploads publish through
`publish`; small content (manifests) is written by `store_bytes` before the
caller's transaction, in which `record` makes it visible. Readers get a blob
through `open`: a redirect to the object store, or its bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import bindparam, delete, select, update

from manifests.digest import Digest
from storage import events, layout, quota
from storage.caches import RepositoryCaches
from storage.database import Conn, Database, rowcount
from storage.errors import (
    BlobCorrupt,
    BlobIsManifest,
    BlobSwept,
    BlobUnknown,
    BlobUploadUnknown,
)
from storage.hashing import checked
from storage.objects import SEND_CHUNK, ObjectStore, local_files, opened, redirect_url
from storage.policy import NO_POLICY, StoragePolicy
from storage.repositories import (
    ensure_repository,
    link_blob,
    now,
    record_blob,
    repository_id,
    resolve_in_repository,
    resolve_key,
)
from storage.schema import blobs, digest_aliases, manifests, repository_blobs, uploads

log = logging.getLogger("artifact-store.storage")
_CLOSE_UPLOAD = delete(uploads).where(uploads.c.id == bindparam("id"))
_HEAL = (
    update(blobs)
    .where(blobs.c.key == bindparam("blob_key"), blobs.c.quarantined.is_not(None))
    .values(quarantined=None, verified=bindparam("at"))
)
LOG = logging.getLogger(__name__)
READ_CHECK_ACTOR = "verify_reads"  # the actor of a quarantine by a verified read
QUARANTINED = Counter(
    "artifact_store_blobs_quarantined", "Blobs found corrupt or missing and taken out of service"
)
HEALED = Counter(
    "artifact_store_blobs_healed", "Quarantined blobs made whole again by a push of their content"
)


@dataclass(frozen=True, slots=True)
class Blob:
    key: str  # blake3 hex
    size: int


@dataclass(frozen=True, slots=True)
class BlobRedirect:
    """The object store serves the blob (and any byte range the client asks for) at `url`."""

    url: str


@dataclass(frozen=True, slots=True)
class BlobStream:
    """Bytes [start, end) of a blob of `size` bytes. The first chunk is already read, so an
    object that is missing or unreachable has failed in `open`, before any response."""

    chunks: AsyncIterator[bytes]
    start: int
    end: int
    size: int


@dataclass(frozen=True, slots=True)
class BlobFile:
    """The whole blob is this file on this machine, for a server that sends files itself
    (zero-copy: no byte passes through Python)."""

    path: str
    size: int


BlobContent = BlobRedirect | BlobStream | BlobFile


class BlobStore:
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        caches: RepositoryCaches | None = None,
        policy: StoragePolicy = NO_POLICY,
        *,
        verify_reads: bool = False,
    ) -> None:
        self.db = db
        self.objects = objects
        self.caches = caches or RepositoryCaches(lookups=db.is_sqlite)
        self.policy = policy  # its quotas are checked wherever a blob is linked
        self.verify_reads = verify_reads  # whole-blob reads hashed as they are sent
        self._local = local_files(objects)  # checked once: a protocol isinstance is slow

    async def resolve(self, repository: str, digest: Digest) -> Blob:
        await self.caches.catch_up()
        cached = self.caches.blobs.get(repository, str(digest))
        if cached is not None:
            return cached
        generation = self.caches.blobs.generation(repository)
        async with self.db.read() as conn:
            found = await resolve_in_repository(conn, repository, digest)
        if found is None:
            raise BlobUnknown({"digest": str(digest)})
        blob = Blob(*found)
        self.caches.blobs.put(repository, str(digest), blob, generation)
        return blob

    async def open(
        self, blob: Blob, start: int = 0, end: int | None = None, *, as_file: bool = False
    ) -> BlobContent:
        """How to serve bytes [start, end) of the blob (to its end when `end` is None): a
        redirect where the object store hands out URLs, else the bytes, already opened.
        With `as_file` (the caller can send a file itself), the whole blob comes as its
        file where the store keeps one; a file that is gone fails here, as a stream would."""
        key = layout.blob_key(blob.key)
        url = await redirect_url(self.objects, key)
        if url is not None:
            return BlobRedirect(url)
        whole = start == 0 and end in (None, blob.size)
        sendfile = as_file and whole and self._local and not self.verify_reads
        path = self._local.local_path(key) if sendfile and self._local else None
        with _lost_bytes(blob):
            if path is not None:
                await asyncio.to_thread(os.stat, path)
                return BlobFile(path, blob.size)
            if whole and self.verify_reads:
                return await self._open_checked(blob)
            chunks = await opened(self.objects.read(key, start, end, SEND_CHUNK))
        return BlobStream(chunks, start, blob.size if end is None else end, blob.size)

    async def check_stored(self, blob: Blob) -> None:
        """BlobUnknown when the blob's bytes are gone from the object store, as `open` says."""
        if await self.objects.stat(layout.blob_key(blob.key)) is None:
            with _lost_bytes(blob):
                raise FileNotFoundError(layout.blob_key(blob.key))

    async def _open_checked(self, blob: Blob) -> BlobStream:
        """The whole blob, hashed as it is read: bytes that are gone or wrong quarantine it
        (BlobCorrupt before a response, or a response cut short)."""
        chunks = checked(self.read(blob), blob.key, blob.size, lambda: self._found(blob, "read"))
        try:
            return BlobStream(await opened(chunks), 0, blob.size, blob.size)
        except FileNotFoundError:
            await self._found(blob, "missing")
            raise BlobCorrupt({"key": blob.key, "missing": True}) from None

    async def _found(self, blob: Blob, reason: str) -> None:
        await self.quarantine(blob.key, reason, READ_CHECK_ACTOR)

    def local_file(self, blob: Blob) -> str | None:
        """The file holding the blob, on a store that keeps files on this machine."""
        return self._local.local_path(layout.blob_key(blob.key)) if self._local else None

    async def stored_objects(self) -> AsyncIterator[str]:
        """Every object key in the blob tree, but for temporary files of writes under way."""
        async for key in self.objects.list(layout.BLOB_TREE):
            if not key.rsplit("/", 1)[-1].startswith("."):
                yield key

    def read(self, blob: Blob, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the blob, in chunks; a missing object fails on the first."""
        return self.objects.read(layout.blob_key(blob.key), start, end)

    async def read_bytes(self, blob: Blob) -> bytes:
        """The whole blob in memory: for small content (manifests)."""
        return b"".join([chunk async for chunk in self.read(blob)])

    async def store_bytes(self, data: bytes, digests: dict[str, Digest]) -> Blob:
        """Write small content (a manifest) durably under its key, before the transaction in
        which `record` makes it visible to a repository."""
        blob = Blob(digests["blake3"].hex, len(data))
        await self.objects.put_bytes(layout.blob_key(blob.key), data)
        return blob

    async def record(
        self, conn: Conn, repository: str, digests: dict[str, Digest], size: int
    ) -> int:
        """Make durable bytes readable from the repository, in the caller's write transaction:
        the repository row (first, as every writer does: one lock order, no deadlocks), the
        blob and its aliases, the link. Returns the repository's id. The caller records the
        event that says why, and has checked the quotas (`check_quotas`) before."""
        repo_id = await ensure_repository(self.db, conn, repository, self.caches.repository_ids)
        key, new = await record_blob(self.db, conn, digests, size)
        if new and await self.objects.stat(layout.blob_key(key)) is None:
            raise BlobSwept({"key": key})  # swept between its publish and now
        if not new and rowcount(await conn.execute(_HEAL, {"blob_key": key, "at": now()})):
            HEALED.inc()  # the caller wrote verified bytes in place of the quarantined ones
        await link_blob(self.db, conn, repo_id, key)
        return repo_id

    async def quarantine(self, key: str, reason: str, actor: str) -> bool:
        """Stop serving a blob whose bytes are corrupt or missing: set the bytes aside
        (kept for inspection, never deleted), then mark the row and record the event. A push
        of the same content heals it (`record`). False when it was quarantined already, or
        when gc is deleting it (its bytes are going anyway; set aside, they would stay)."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(blobs.c.sweeping).where(blobs.c.key == key))).first()
        if row is not None and row.sweeping is not None:
            return False
        await self._set_aside(key)
        async with self.db.write() as conn:
            marked = await conn.execute(
                update(blobs)
                .where(blobs.c.key == key, blobs.c.quarantined.is_(None))
                .values(quarantined=now())
            )
            if not rowcount(marked):
                return False
            digest = await _sha256_of(conn, key)
            await events.record(
                conn, actor, "blob.quarantine", None, digest=digest, key=key, reason=reason
            )
        self.caches.changed_everywhere()
        QUARANTINED.inc()
        LOG.warning("blob %s (%s) quarantined: %s, found by %s", digest, key, reason, actor)
        return True

    async def _set_aside(self, key: str) -> None:
        """Move the blob's object (if any) to a quarantine key no other object holds."""
        source = layout.blob_key(key)
        if await self.objects.stat(source) is None:
            return
        attempt = 0
        while await self.objects.stat(layout.quarantine_key(key, attempt)) is not None:
            attempt += 1
        await self.objects.publish(source, layout.quarantine_key(key, attempt))

    async def publish(
        self,
        source_key: str,
        repository: str,
        digests: dict[str, Digest],
        size: int,
        actor: str,
        closing: str | None = None,
    ) -> None:
        """Move verified bytes into place, then make them visible to the repository; the
        upload session `closing` ends in the same transaction. A push over a quota is
        refused before its bytes move."""
        key = digests["blake3"].hex
        await self.check_quotas(repository, key, size)
        await self.objects.publish(source_key, layout.blob_key(key))
        async with self.db.write() as conn:
            if closing is not None:
                await _close_session(conn, closing)
            await self.record(conn, repository, digests, size)
            await events.record(
                conn,
                actor,
                "blob.push",
                repository,
                digest=str(digests["sha256"]),
                digests=[str(d) for d in digests.values()],
                size=size,
                key=key,
            )

    async def mount(self, target: str, source: str, digest: Digest, actor: str) -> bool:
        """Link a blob the source repository can read into the target; False if it cannot."""
        async with self.db.read() as conn:
            readable = await resolve_in_repository(conn, source, digest)
        if readable is not None:
            await self.check_quotas(target, *readable)
        async with self.db.write() as conn:
            found = await resolve_in_repository(conn, source, digest)
            if found is None:
                return False
            repo_id = await ensure_repository(self.db, conn, target, self.caches.repository_ids)
            await link_blob(self.db, conn, repo_id, found[0])
            await events.record(
                conn,
                actor,
                "blob.mount",
                target,
                digest=str(digest),
                source=source,
                size=found[1],
                key=found[0],
            )
        return True

    async def check_quotas(self, repository: str, key: str, size: int) -> None:
        """Raise QuotaExceeded if linking the blob into the repository would take a quota
        over, as the committed links stand now. Counting a quota reads every link of its
        repositories: done in a read, not in the write transaction, which on SQLite would
        hold every other writer back meanwhile. So pushes in flight between this check and
        their commit may together overshoot a limit by their own bytes."""
        quotas = self.policy.quotas_of(repository)
        if quotas:
            async with self.db.read() as conn:
                await quota.check(conn, quotas, key, size)

    async def stored_anywhere(self, digest: Digest) -> bool:
        """Whether any repository holds the digest's bytes. Not for answering clients (that
        would leak existence across repositories): for a caller that learned elsewhere that
        the repository may have them (the pull-through cache, from its upstream)."""
        async with self.db.read() as conn:
            return await resolve_key(conn, digest) is not None

    async def adopt(self, repository: str, digest: Digest, actor: str) -> Blob | None:
        """Link bytes already stored to the repository without receiving them again (see
        `stored_anywhere`); None when they are not stored after all."""
        async with self.db.write() as conn:
            found = await resolve_key(conn, digest)
            if found is None:
                return None
            repo_id = await ensure_repository(self.db, conn, repository, self.caches.repository_ids)
            await link_blob(self.db, conn, repo_id, found[0])
            await events.record(
                conn,
                actor,
                "blob.push",
                repository,
                digest=str(digest),
                size=found[1],
                key=found[0],
            )
        return Blob(*found)

    async def unlink(self, repository: str, digest: Digest, actor: str) -> None:
        """Take the blob away from the repository; its bytes stay for other links (GC)."""
        async with self.db.write() as conn:
            found = await resolve_in_repository(conn, repository, digest)
            repo_id = await repository_id(conn, repository)
            if found is None or repo_id is None:
                raise BlobUnknown({"digest": str(digest)})
            if await _is_manifest(conn, repo_id, found[0]):
                raise BlobIsManifest({"digest": str(digest)})
            await conn.execute(
                delete(repository_blobs).where(
                    repository_blobs.c.repository_id == repo_id,
                    repository_blobs.c.blob_key == found[0],
                )
            )
            await events.record(
                conn, actor, "blob.delete", repository, digest=str(digest), key=found[0]
            )
        self.caches.changed(repository)


async def _is_manifest(conn: Conn, repo_id: int, key: str) -> bool:
    query = manifests.select().where(
        manifests.c.repository_id == repo_id, manifests.c.blob_key == key
    )
    return (await conn.execute(query)).first() is not None


@contextlib.contextmanager
def _lost_bytes(blob: Blob) -> Iterator[None]:
    """A blob whose row stands but whose bytes are gone is answered as unknown, and logged
    as the fault it is (the integrity scrub finds and heals these)."""
    try:
        yield
    except FileNotFoundError as exc:
        log.error("blob %s is recorded but its bytes are missing: %s", blob.key, exc)
        raise BlobUnknown({"key": blob.key, "missing": True}) from exc


async def _sha256_of(conn: Conn, key: str) -> str | None:
    query = select(digest_aliases.c.hex).where(
        digest_aliases.c.blob_key == key, digest_aliases.c.algorithm == "sha256"
    )
    found = (await conn.execute(query)).scalar()
    return None if found is None else f"sha256:{found}"


async def _close_session(conn: Conn, upload_id: str) -> None:
    """Delete the session's row; gone already means a cancel came first, and then the
    transaction fails and nothing becomes visible. (Only requests to this session and its
    cancel touch the row, so taking it before the other tables orders no one else.)"""
    if not rowcount(await conn.execute(_CLOSE_UPLOAD, {"id": upload_id})):
        raise BlobUploadUnknown({"upload": upload_id, "cancelled": True})
