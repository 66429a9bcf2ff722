"""The blob store: digests over an object store, with global dedupe and
per-repository visibility.

Bytes live once under their BLAKE3 key; the alias table maps sha256, sha512
and blake3 digests to that key. A blob becomes visible to a repository only
after its bytes are durable and, in one transaction, its aliases, the
repository link and the event are committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import bindparam, delete

from manifests.digest import Digest
from storage import events, layout
from storage.database import Database
from storage.errors import BlobUnknown
from storage.lookup_cache import LookupCache
from storage.objects import ObjectStore
from storage.repositories import (
    ensure_repository,
    link_blob,
    record_blob,
    repository_id,
    resolve_in_repository,
)
from storage.schema import repository_blobs, uploads

_CLOSE_UPLOAD = delete(uploads).where(uploads.c.id == bindparam("id"))


@dataclass(frozen=True, slots=True)
class Blob:
    key: str  # blake3 hex
    size: int


class BlobStore:
    def __init__(self, db: Database, objects: ObjectStore) -> None:
        self.db = db
        self.objects = objects
        self.lookups: LookupCache[Blob] = LookupCache(db.is_sqlite)

    async def resolve(self, repository: str, digest: Digest) -> Blob:
        cached = self.lookups.get(repository, str(digest))
        if cached is not None:
            return cached
        generation = self.lookups.generation(repository)
        async with self.db.read() as conn:
            found = await resolve_in_repository(conn, repository, digest)
        if found is None:
            raise BlobUnknown({"digest": str(digest)})
        blob = Blob(*found)
        self.lookups.put(repository, str(digest), blob, generation)
        return blob

    def read(self, blob: Blob, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.objects.read(layout.blob_key(blob.key), start, end)

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
        upload session `closing` ends in the same transaction."""
        await self.objects.publish(source_key, layout.blob_key(digests["blake3"].hex))
        async with self.db.write() as conn:
            # Repository first, as every writer does: one lock order, no deadlocks.
            repo_id = await ensure_repository(self.db, conn, repository)
            key = await record_blob(self.db, conn, digests, size)
            await link_blob(self.db, conn, repo_id, key)
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
            if closing is not None:
                await conn.execute(_CLOSE_UPLOAD, {"id": closing})

    async def mount(self, target: str, source: str, digest: Digest, actor: str) -> bool:
        """Link a blob the source repository can read into the target; False if it cannot."""
        async with self.db.write() as conn:
            found = await resolve_in_repository(conn, source, digest)
            if found is None:
                return False
            repo_id = await ensure_repository(self.db, conn, target)
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

    async def unlink(self, repository: str, digest: Digest, actor: str) -> None:
        """Take the blob away from the repository; its bytes stay for other links (GC)."""
        async with self.db.write() as conn:
            found = await resolve_in_repository(conn, repository, digest)
            repo_id = await repository_id(conn, repository)
            if found is None or repo_id is None:
                raise BlobUnknown({"digest": str(digest)})
            await conn.execute(
                delete(repository_blobs).where(
                    repository_blobs.c.repository_id == repo_id,
                    repository_blobs.c.blob_key == found[0],
                )
            )
            await events.record(
                conn, actor, "blob.delete", repository, digest=str(digest), key=found[0]
            )
        self.lookups.invalidate(repository)
