"""Upload sessions: bytes streamed in, hashed in the same pass, published on close.

A store that can append in place (the filesystem) keeps a session in one
object, `uploads/<id>/data`: each chunk is appended, a failed one is cut off,
and closing publishes that object (a rename). Other stores (S3 has no append)
keep each chunk as an object of its own, `uploads/<id>/parts/<offset>`, named
by the offset it starts at. The session's size in the metadata says where the
chain ends and each part's size leads to the next one, so finding the parts
needs no listing. A chunk that fails leaves at most a part at the current end,
which the next chunk replaces. On close, one part is published as it is;
several are composed by the object store straight under the blob key (on S3 a
server-side multipart copy, where only runs of chunks under its 5 MiB part
minimum pass through the registry once more). A whole-blob push streams into
one object and is published.

The hash state of a session lives in the process that last wrote to it
(storage/upload_state.py, which also bounds it). A request that lands
elsewhere (another worker or replica, a restart) brings that process's state up
to date by reading the stored bytes it has not hashed yet (all of them, if it
has none): slower, always correct, never pickled.

One request at a time writes to a session: an asyncio lock in each process,
and across the worker processes of one data directory a file lock
(storage/file_locks.py). The session's row decides what wins: a cancel deletes
it first, a closing PUT deletes it in the transaction that publishes, and
whichever finds it gone has lost. A request streaming into a session checks
the row every ROW_CHECK seconds, so a cancel made in another process (or on
another replica) stops it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, ScalarSelect, bindparam, delete, func, select, update

from manifests.digest import Digest
from storage import layout
from storage.blobs import BlobStore
from storage.database import Conn, Database, rowcount
from storage.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestMismatch,
    QuotaExceeded,
    RangeInvalid,
    TooManyUploads,
)
from storage.file_locks import FileLocks
from storage.hashing import Verifier, rechunk
from storage.intake import Intake, Intakes
from storage.objects import ObjectStore, ObjectWriter, appending
from storage.repositories import now
from storage.schema import uploads
from storage.upload_state import Progress, SessionStates

log = logging.getLogger("artifact-store.storage")
INGEST_CHUNK = 1024 * 1024
ROW_CHECK = 0.5  # seconds between checks that a session being written to still exists
# Built once: statements are the hot path of small pushes, and building one costs
# more than running it.
_START = uploads.insert()
_UPLOAD_BY_ID = select(uploads).where(uploads.c.id == bindparam("id"))
_EXISTS = select(uploads.c.id).where(uploads.c.id == bindparam("id"))
_RESIZE = (
    update(uploads)
    .where(uploads.c.id == bindparam("upload_id"), uploads.c.size == bindparam("old"))
    .values(size=bindparam("new_size"), updated=bindparam("at"))
)
_DROP = delete(uploads).where(uploads.c.id == bindparam("id"))


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
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        blobs: BlobStore,
        states: SessionStates | None = None,
        file_locks: FileLocks | None = None,
    ) -> None:
        """`file_locks`: where worker processes share the data directory, the lock that
        keeps two of them from writing to one session at once."""
        self.db = db
        self.objects = objects
        self.blobs = blobs
        self._appender = appending(objects)  # checked once: a protocol isinstance is slow
        self._states = states or SessionStates()
        self._intakes = Intakes()
        self._file_locks = file_locks
        self.max_sessions = 0  # open sessions per repository; 0: no limit
        self.max_sessions_per_client = 0  # open sessions per client; 0: no limit
        self._pushing: set[str] = set()  # ids of this process's monolithic pushes in flight

    async def start(
        self, repository: str, algorithm: str | None = None, client: str | None = None
    ) -> Upload:
        """A new session; `client` (a user or an address) counts against its own cap."""
        upload = Upload(str(uuid.uuid4()), repository, 0, algorithm)
        async with self.db.write() as conn:
            await self._check_room(conn, repository, client)
            started = now()
            await conn.execute(
                _START,
                {
                    "id": upload.id,
                    "repository": repository,
                    "algorithm": algorithm,
                    "size": 0,
                    "started": started,
                    "updated": started,
                    "client": client,
                },
            )
        self._states.keep(upload.id, Progress(Verifier(_extra(algorithm)), []))
        return upload

    async def _check_room(self, conn: Conn, repository: str, client: str | None) -> None:
        """Both caps in one statement (it runs under the write lock of every POST)."""
        per_client = self.max_sessions_per_client if client is not None else 0
        if not (self.max_sessions or per_client):
            return
        query = select(
            _open(uploads.c.repository == repository).label("repository"),
            _open(uploads.c.client == client).label("client"),
        )
        counts = (await conn.execute(query)).one()
        if self.max_sessions and counts.repository >= self.max_sessions:
            raise TooManyUploads(
                {"repository": repository, "max_upload_sessions": self.max_sessions}
            )
        if per_client and counts.client >= per_client:
            raise TooManyUploads({"client": client, "max_upload_sessions_per_client": per_client})

    async def strays(self) -> set[str]:
        """Ids under uploads/ with stored bytes but no session row: monolithic pushes in
        flight, or what a crashed request left (no cancel or reaper would ever see them)."""
        stored = {key.split("/")[1] async for key in self.objects.list("uploads")}
        if not stored:
            return set()
        async with self.db.read() as conn:
            rows = set((await conn.execute(select(uploads.c.id))).scalars())
        return stored - rows - self._pushing

    async def remove_strays(self, seen: set[str]) -> set[str]:
        """Delete the strays that were strays already when `seen` was taken (a push in
        flight in another process has had that long to finish); returns the strays now,
        to pass to the next call."""
        now_stray = await self.strays()
        for upload_id in sorted(seen & now_stray):
            log.warning("removing upload data with no session: uploads/%s", upload_id)
            await self.objects.delete(layout.upload_dir(upload_id))
        return now_stray - seen

    async def get(self, repository: str, upload_id: str) -> Upload:
        async with self.db.read() as conn:
            row = (await conn.execute(_UPLOAD_BY_ID, {"id": upload_id})).first()
        if row is None or row.repository != repository:
            raise BlobUploadUnknown({"upload": upload_id})
        return Upload(row.id, row.repository, row.size, row.algorithm)

    async def append(
        self,
        repository: str,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        start: int | None = None,
        length: int | None = None,
    ) -> Upload:
        """Add a chunk at the end; `start` must be the current size when given."""
        async with self._streaming(upload_id, chunks) as body:
            upload = await self.get(repository, upload_id)
            grown, _ = await self._take(upload, body, start, length)
            if grown.size != upload.size:
                try:
                    await self._set_size(upload, grown.size)
                except BaseException:
                    self._states.discard_progress(upload.id)
                    raise
            return grown

    async def finish(
        self,
        repository: str,
        upload_id: str,
        digest: Digest,
        actor: str,
        last: AsyncIterator[bytes] | None = None,
        start: int | None = None,
        length: int | None = None,
    ) -> Digest:
        """Verify the whole upload (with a `last` chunk, if the request carries one) against
        the client's digest and publish it. The session's row goes in the same transaction
        that makes the blob visible."""
        async with self._streaming(upload_id, last) as body:
            upload = await self.get(repository, upload_id)
            if last is not None:
                upload, _ = await self._take(upload, body, start, length)
            progress = await self._load(upload, digest.algorithm)
            if progress.verifier.digest(digest.algorithm) != digest:
                await self._drop(upload)
                raise DigestMismatch({"digest": str(digest)})
            digests = progress.verifier.digests()
            source = await self._assemble(upload, progress.parts, digests["blake3"])
            try:
                await self.blobs.publish(
                    source, upload.repository, digests, upload.size, actor, closing=upload.id
                )
            except QuotaExceeded:  # refused for good: the session ends, as on a mismatch
                await self._drop(upload)
                raise
            await self._discard(upload)
            return digests["sha256"]

    async def cancel(self, upload: Upload) -> None:
        """End the session. Its row goes first: a session a PUT closed before is unknown
        here, and a PUT still closing it fails (BlobUploadUnknown), as does any request
        writing to it. Those in this process stop at their next chunk, or at once while
        they wait for their client's bytes; those in other processes when they next check
        the row. A write to the store already under way finishes first; the stored chunks
        go once no request writes to them."""
        self._intakes.end(upload.id)
        if not await self._delete_row(upload.id):
            raise BlobUploadUnknown({"upload": upload.id})
        async with self._lock(upload.id):
            await self._discard(upload)

    async def push(
        self,
        repository: str,
        digest: Digest,
        chunks: AsyncIterator[bytes],
        actor: str,
        length: int | None = None,
    ) -> Digest:
        """A whole blob in one request: no session row, same verification."""
        upload_id = str(uuid.uuid4())
        key = layout.upload_key(upload_id)
        verifier = Verifier(_extra(digest.algorithm))
        self._pushing.add(upload_id)
        try:
            writer = await self.objects.open_writer(key)
        except BaseException:
            self._pushing.discard(upload_id)
            raise
        try:
            try:
                size = await _ingest(chunks, verifier, writer)
            except BaseException:
                await writer.abort()
                raise
            await writer.commit()
            if length is not None and size != length:
                raise BlobUploadInvalid({"expected": length, "received": size})
            if verifier.digest(digest.algorithm) != digest:
                raise DigestMismatch({"digest": str(digest)})
            digests = verifier.digests()
            await self.blobs.publish(key, repository, digests, size, actor)
            return digests["sha256"]
        finally:
            await self.objects.delete(layout.upload_dir(upload_id))
            self._pushing.discard(upload_id)

    async def _take(
        self,
        upload: Upload,
        chunks: AsyncIterator[bytes],
        start: int | None,
        length: int | None,
    ) -> tuple[Upload, Progress]:
        """Write a chunk at the session's end. The upload returned counts it; the metadata
        does not yet."""
        if start is not None and start != upload.size:
            raise RangeInvalid(upload.size)
        progress = await self._load(upload)
        key = self._chunk_key(upload)
        try:
            written = await self._write_chunk(upload, key, chunks, progress.verifier, length)
        except BaseException:
            self._states.discard_progress(upload.id)
            raise
        if written:
            progress.parts = _grown(progress.parts, key, written)
        return replace(upload, size=upload.size + written), progress

    async def _load(self, upload: Upload, algorithm: str | None = None) -> Progress:
        """This process's progress of the session, caught up with the stored bytes.

        A session only grows, and its first `size` bytes never change once its row
        says `size`: progress that counts fewer bytes (another process wrote the chunks
        since) needs only the bytes past its end, so chunks that alternate between
        workers or replicas cost one extra read each, not a read of the whole prefix."""
        progress = self._states.progress(upload.id)
        wanted = set(_extra(upload.algorithm)) | set(_extra(algorithm))
        if (
            progress is None
            or progress.verifier.size > upload.size
            or not wanted <= progress.verifier.algorithms
        ):
            progress = Progress(Verifier(wanted), [])
        if progress.verifier.size < upload.size:
            parts = await self._stored_parts(upload, progress.verifier.size)
            for key, start, end in parts:
                async for chunk in self.objects.read(key, start, end):
                    await progress.verifier.update_async(chunk)
            progress.parts = _joined(
                progress.parts, [(key, end - start) for key, start, end in parts]
            )
            self._states.keep(upload.id, progress)
        return progress

    async def _stored_parts(self, upload: Upload, offset: int) -> list[tuple[str, int, int]]:
        """The stored bytes of the session from `offset` on: (key, start, end) of each part."""
        if self._appender is not None:
            if (await self.objects.stat(upload.key) or 0) < upload.size:
                raise _lost_data(upload, upload.size)
            return [(upload.key, offset, upload.size)]
        parts: list[tuple[str, int, int]] = []
        while offset < upload.size:
            key = layout.upload_part_key(upload.id, offset)
            size = await self.objects.stat(key)
            if not size:
                raise _lost_data(upload, offset)
            parts.append((key, 0, size))
            offset += size
        if offset != upload.size:
            raise BlobUploadInvalid({"upload": upload.id, "size": upload.size, "stored": offset})
        return parts

    def _chunk_key(self, upload: Upload) -> str:
        """Where the next chunk goes: the end of the one object, or a part of its own."""
        return (
            upload.key
            if self._appender is not None
            else layout.upload_part_key(upload.id, upload.size)
        )

    async def _write_chunk(
        self,
        upload: Upload,
        key: str,
        chunks: AsyncIterator[bytes],
        verifier: Verifier,
        length: int | None,
    ) -> int:
        if self._appender is not None:
            try:
                writer = await self._appender.open_appender(key, upload.size)
            except FileNotFoundError as exc:
                raise _lost_data(upload, upload.size) from exc
        else:
            writer = await self.objects.open_writer(key)
        try:
            written = await _ingest(chunks, verifier, writer)
            if length is not None and written != length:
                raise BlobUploadInvalid({"expected": length, "received": written})
        except BaseException:
            await writer.abort()
            raise
        await (writer.commit() if written else writer.abort())
        return written

    async def _assemble(self, upload: Upload, parts: list[tuple[str, int]], b3: Digest) -> str:
        """The key to publish: the one part, or (several parts) one already composed in place."""
        if not parts:
            key = layout.upload_part_key(upload.id, 0)
            await self.objects.put_bytes(key, b"")
            return key
        if len(parts) > 1:
            # Composed straight under the blob key: publish then finds it and drops the source.
            await self.objects.compose([key for key, _ in parts], layout.blob_key(b3.hex))
        return parts[0][0]

    async def _set_size(self, upload: Upload, size: int) -> None:
        """Move the session's end from upload.size to size, unless another request did first."""
        async with self.db.write() as conn:
            result = await conn.execute(
                _RESIZE, {"upload_id": upload.id, "old": upload.size, "new_size": size, "at": now()}
            )
        if not rowcount(result):
            raise RangeInvalid((await self.get(upload.repository, upload.id)).size)

    async def _drop(self, upload: Upload) -> bool:
        """Delete the session and its chunks; False if its row was already gone."""
        deleted = await self._delete_row(upload.id)
        await self._discard(upload)
        return deleted

    async def _delete_row(self, upload_id: str) -> bool:
        async with self.db.write() as conn:
            return bool(rowcount(await conn.execute(_DROP, {"id": upload_id})))

    async def _exists(self, upload_id: str) -> bool:
        async with self.db.read() as conn:
            return (await conn.execute(_EXISTS, {"id": upload_id})).first() is not None

    async def _discard(self, upload: Upload) -> None:
        """Forget a session whose row is gone: its state in memory and its stored chunks."""
        self._states.discard_progress(upload.id)
        await self.objects.delete(layout.upload_dir(upload.id))
        self.forget(upload.id)

    def forget(self, upload_id: str) -> None:
        """Drop this process's state of a session whose row is gone (closed, cancelled, or
        reaped as abandoned). Abandoned sessions also age out by themselves (upload_state)."""
        self._states.forget(upload_id)

    @contextlib.asynccontextmanager
    async def _lock(self, upload_id: str) -> AsyncIterator[None]:
        """The session to this request alone: in this process, then across processes."""
        async with self._states.lock(upload_id):
            if self._file_locks is None:
                yield
                return
            async with self._file_locks.hold(upload_id):
                yield

    @contextlib.asynccontextmanager
    async def _streaming(
        self, upload_id: str, chunks: AsyncIterator[bytes] | None
    ) -> AsyncIterator[Intake]:
        """The session's lock, for a request whose body a cancel ends (storage/intake.py).
        The body is registered before the wait for the lock, so a cancel reaches it there;
        while the request holds the lock, a cancel from another process ends it too."""
        with self._intakes.open(upload_id, chunks) as body:
            async with self._lock(upload_id):
                body.check()
                watch = asyncio.create_task(self._end_when_gone(upload_id, body))
                try:
                    yield body
                finally:
                    watch.cancel()

    async def _end_when_gone(self, upload_id: str, body: Intake) -> None:
        """End the request's body once the session's row is gone (cancelled elsewhere)."""
        while True:
            await asyncio.sleep(ROW_CHECK)
            if not await self._exists(upload_id):
                body.end()
                return


def _lost_data(upload: Upload, offset: int) -> BlobUploadUnknown:
    """A session whose stored bytes are gone (short of `offset`) is answered as unknown,
    and logged as the fault it is: the client starts over."""
    log.error("upload %s has lost its stored data before byte %d", upload.id, offset)
    return BlobUploadUnknown({"upload": upload.id, "missing": offset})


def _grown(parts: list[tuple[str, int]], key: str, written: int) -> list[tuple[str, int]]:
    if parts and parts[-1][0] == key:  # appended in place
        return [*parts[:-1], (key, parts[-1][1] + written)]
    return [*parts, (key, written)]


def _joined(parts: list[tuple[str, int]], more: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """`parts` followed by `more`, a part appended in place counted once."""
    for key, size in more:
        parts = _grown(parts, key, size)
    return parts


def _extra(algorithm: str | None) -> tuple[str, ...]:
    return () if algorithm in (None, "sha256", "blake3") else (algorithm,)


async def _ingest(chunks: AsyncIterator[bytes], verifier: Verifier, writer: ObjectWriter) -> int:
    written = 0
    async for buffer in rechunk(chunks, INGEST_CHUNK):
        await asyncio.gather(verifier.update_async(buffer), writer.write(buffer))
        written += len(buffer)
    return written


def _open(which: ColumnElement[bool]) -> ScalarSelect[int]:
    """How many open sessions match (an indexed column: one index range)."""
    return select(func.count()).select_from(uploads).where(which).scalar_subquery()
