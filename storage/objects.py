"""The object store protocol: bytes by key, nothing of OCI.

Backends implement these few methods; BlobStore builds digests, aliases,
uploads and dedupe on top. Keys are '/'-separated relative paths (see layout).
No method relies on a listing to see a write that just finished: `list` is for
sweeping (GC, tests), never for finding what an upload wrote.

Optional capabilities are small protocols a backend may also implement:
`Appending` (add bytes to the end of an object in place), `Dated` (list objects with
the time each was last written, for gc), `Multipart` (abort multipart uploads a
crash left unfinished), `PresignedReads`
(hand clients a URL to fetch an object directly), `LocalFiles` (objects are
files on this machine, for zero-copy sends) and `Closing` (release connections
and threads at shutdown).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from prometheus_client import Counter

READ_CHUNK = 2 * 1024 * 1024
# Chunks of a blob on its way to a client: the server holds a few of these per connection
# while the client reads (its send queue is counted in chunks, not bytes), so they are small.
SEND_CHUNK = 16 * 1024
# Counted by each backend where it turns a failure of the store into Unavailable.
ERRORS = Counter(
    "artifact_store_object_store_errors",
    "Object store operations that failed for want of the object store",
)


class ObjectWriter(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None:
        """Make the object appear whole under its key (durable once published or composed)."""

    async def abort(self) -> None:
        """Drop what this writer wrote; the key keeps whatever it held before."""


class ObjectStore(Protocol):
    async def stat(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""

    def read(
        self, key: str, start: int = 0, end: int | None = None, chunk: int = READ_CHUNK
    ) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the object, in chunks of at most `chunk` bytes.

        A missing object raises FileNotFoundError."""

    async def open_writer(self, key: str) -> ObjectWriter:
        """A streamed write of a new object that replaces `key` on commit."""

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write a whole small object durably and atomically."""

    async def publish(self, source: str, target: str) -> None:
        """Make `source` durable under `target` and drop it; an existing target means done."""

    async def compose(self, sources: Sequence[str], target: str) -> None:
        """Make the concatenation of `sources` durable under `target`; an existing target
        means done. The sources stay; the caller deletes them."""

    async def delete(self, key: str) -> None:
        """Remove the object and every object under `key/` (best effort for those)."""

    def list(self, prefix: str) -> AsyncIterator[str]:
        """Keys equal to `prefix` or under `prefix/`, sorted; everything for ""."""


@runtime_checkable
class Appending(Protocol):
    """A backend that can add to an object in place: a filesystem, not S3."""

    appends: bool  # False turns the capability off, to run what other backends run

    async def open_appender(self, key: str, start: int) -> ObjectWriter:
        """Write after the first `start` bytes of `key`, cutting anything past them first;
        abort cuts the object back to `start`."""


@runtime_checkable
class Dated(Protocol):
    """A backend that can say when each object was last written (all of ours)."""

    def list_dated(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """(key, last written, timezone-aware) of every key `list(prefix)` yields; not
        necessarily sorted, never loading the whole listing at once."""


@runtime_checkable
class Multipart(Protocol):
    """A backend with multipart uploads that live on, unseen, until aborted: S3."""

    async def abort_unfinished(self, prefix: str, older_than: datetime | None = None) -> int:
        """Abort the unfinished multipart uploads of keys under `prefix` (started before
        `older_than`, when given); returns how many."""


@runtime_checkable
class PresignedReads(Protocol):
    """A backend that can let clients fetch objects without passing through the registry."""

    redirect_reads: bool  # hand out URLs only when the deployment asked for it

    async def presigned_url(self, key: str) -> str: ...


@runtime_checkable
class Bucketed(Protocol):
    """A backend whose objects live in a bucket that may be missing or closed to us: S3."""

    async def check_bucket(self) -> None:
        """StoreMissing, CredentialsRefused or Unavailable when the bucket cannot be used."""


@runtime_checkable
class LocalFiles(Protocol):
    """A backend that keeps each object in a file of its own on this machine."""

    def local_path(self, key: str) -> str | None:
        """The file that holds (or would hold) the object under `key`; None if it has none."""


@runtime_checkable
class Closing(Protocol):
    async def close(self) -> None: ...


def appending(store: ObjectStore) -> Appending | None:
    return store if isinstance(store, Appending) and store.appends else None


async def redirect_url(store: ObjectStore, key: str) -> str | None:
    """A time-limited URL serving the object, when the backend offers one and it is on."""
    if isinstance(store, PresignedReads) and store.redirect_reads:
        return await store.presigned_url(key)
    return None


def dated(store: ObjectStore) -> Dated | None:
    return store if isinstance(store, Dated) else None


def multipart(store: ObjectStore) -> Multipart | None:
    return store if isinstance(store, Multipart) else None


def local_files(store: ObjectStore) -> LocalFiles | None:
    return store if isinstance(store, LocalFiles) else None


async def opened(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` with its first one already read, so that a backend failing before the first
    byte (unreachable, object gone) fails here, before a response has started."""
    first = await anext(chunks, None)

    async def replay() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
            async for chunk in chunks:
                yield chunk

    return replay()


async def check_bucket(store: ObjectStore) -> None:
    """For a backend with a bucket, whether it exists and lets us in; nothing for others."""
    if isinstance(store, Bucketed):
        await store.check_bucket()


async def close(store: ObjectStore) -> None:
    if isinstance(store, Closing):
        await store.close()
