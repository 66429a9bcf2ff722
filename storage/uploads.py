"""Upload sessions: bytes streamed in, hashed in the same pass, published on close.

The hash state of a session lives in the process that last wrote to it. A
request that lands elsewhere (another replica, a restart) rebuilds it by
re-reading the stored prefix: slower, always correct, never pickled.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from sqlalchemy import delete, select, update

from manifests.digest import Digest
from storage import layout
from storage.blobs import BlobStore
from storage.database import Database
from storage.errors import BlobUploadInvalid, BlobUploadUnknown, DigestMismatch, RangeInvalid
from storage.hashing import Verifier, rechunk
from storage.objects import ObjectStore, ObjectWriter
from storage.repositories import now
from storage.schema import uploads

INGEST_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository: str
    size: int
    algorithm: str | None = None

    @property
    def key(self) -> str:
        return layout.upload_key(self.id)


class UploadSessions:
    def __init__(self, db: Database, objects: ObjectStore, blobs: BlobStore) -> None:
        self.db = db
        self.objects = objects
        self.blobs = blobs
        self._hashes: dict[str, Verifier] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, repository: str, algorithm: str | None = None) -> Upload:
        upload = Upload(str(uuid.uuid4()), repository, 0, algorithm)
        async with self.db.write() as conn:
            await conn.execute(
                uploads.insert().values(
                    id=upload.id,
                    repository=repository,
                    algorithm=algorithm,
                    size=0,
                    started=now(),
                    updated=now(),
                )
            )
        await (await self.objects.open_writer(upload.key)).close()
        self._hashes[upload.id] = Verifier(_extra(algorithm))
        return upload

    async def get(self, repository: str, upload_id: str) -> Upload:
        async with self.db.read() as conn:
            row = (await conn.execute(select(uploads).where(uploads.c.id == upload_id))).first()
        if row is None or row.repository != repository:
            raise BlobUploadUnknown({"upload": upload_id})
        return Upload(row.id, row.repository, row.size, row.algorithm)

    async def append(
        self,
        upload: Upload,
        chunks: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> Upload:
        """Add a chunk at the end; `start` must be the current size when given."""
        async with self._lock(upload.id):
            upload = await self.get(upload.repository, upload.id)
            if start is not None and start != upload.size:
                raise RangeInvalid(upload.size)
            verifier = await self._verifier(upload)
            writer = await self.objects.open_writer(upload.key, append=True)
            try:
                written = await _ingest(chunks, verifier, writer)
                if length is not None and written != length:
                    raise BlobUploadInvalid({"expected": length, "received": written})
            except BaseException:
                self._hashes.pop(upload.id, None)
                await writer.abort()
                raise
            await writer.close()
            return await self._set_size(upload, upload.size + written)

    async def finish(self, upload: Upload, digest: Digest, actor: str) -> Digest:
        """Verify the whole upload against the client's digest and publish it."""
        async with self._lock(upload.id):
            upload = await self.get(upload.repository, upload.id)
            verifier = await self._verifier(upload, digest.algorithm)
            if verifier.digest(digest.algorithm) != digest:
                await self._drop(upload)
                raise DigestMismatch({"digest": str(digest)})
            digests = verifier.digests()
            await self.blobs.publish(upload.key, upload.repository, digests, upload.size, actor)
            await self._drop(upload)
            return digests["sha256"]

    async def cancel(self, upload: Upload) -> None:
        async with self._lock(upload.id):
            await self._drop(upload)

    async def push(
        self,
        repository: str,
        digest: Digest,
        chunks: AsyncIterator[bytes],
        actor: str,
        length: int | None = None,
    ) -> Digest:
        """A whole blob in one request: no session row, same verification."""
        key = layout.upload_key(str(uuid.uuid4()))
        verifier = Verifier(_extra(digest.algorithm))
        writer = await self.objects.open_writer(key)
        try:
            try:
                size = await _ingest(chunks, verifier, writer)
            except BaseException:
                await writer.abort()
                raise
            await writer.close()
            if length is not None and size != length:
                raise BlobUploadInvalid({"expected": length, "received": size})
            if verifier.digest(digest.algorithm) != digest:
                raise DigestMismatch({"digest": str(digest)})
            digests = verifier.digests()
            await self.blobs.publish(key, repository, digests, size, actor)
            return digests["sha256"]
        finally:
            await self.objects.delete(key.rpartition("/")[0])

    async def _verifier(self, upload: Upload, algorithm: str | None = None) -> Verifier:
        verifier = self._hashes.get(upload.id)
        wanted = set(_extra(upload.algorithm)) | set(_extra(algorithm))
        if verifier is None or verifier.size != upload.size or not wanted <= verifier.algorithms:
            verifier = Verifier(wanted)
            async for chunk in self.objects.read(upload.key, 0, upload.size):
                await verifier.update_async(chunk)
            self._hashes[upload.id] = verifier
        return verifier

    async def _set_size(self, upload: Upload, size: int) -> Upload:
        async with self.db.write() as conn:
            await conn.execute(
                update(uploads).where(uploads.c.id == upload.id).values(size=size, updated=now())
            )
        return replace(upload, size=size)

    async def _drop(self, upload: Upload) -> None:
        self._hashes.pop(upload.id, None)
        async with self.db.write() as conn:
            await conn.execute(delete(uploads).where(uploads.c.id == upload.id))
        await self.objects.delete(upload.key.rpartition("/")[0])
        self._locks.pop(upload.id, None)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())


def _extra(algorithm: str | None) -> tuple[str, ...]:
    return () if algorithm in (None, "sha256", "blake3") else (algorithm,)


async def _ingest(chunks: AsyncIterator[bytes], verifier: Verifier, writer: ObjectWriter) -> int:
    written = 0
    async for buffer in rechunk(chunks, INGEST_CHUNK):
        await asyncio.gather(verifier.update_async(buffer), writer.write(buffer))
        written += len(buffer)
    return written
