"""The object store protocol: bytes by key, nothing of OCI.

Backends implement these few methods; BlobStore builds digests, aliases,
uploads and dedupe on top. Keys are '/'-separated relative paths (see layout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

READ_CHUNK = 1024 * 1024


class ObjectWriter(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None:
        """Flush what was written; the object keeps it (not yet durable)."""

    async def abort(self) -> None:
        """Drop what this writer wrote: remove a new object, cut an appended one back."""


class ObjectStore(Protocol):
    async def stat(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the object, in chunks of about READ_CHUNK."""

    async def open_writer(self, key: str, *, append: bool = False) -> ObjectWriter: ...

    async def put_bytes(self, key: str, data: bytes) -> None:
        """Write a whole small object durably and atomically."""

    async def publish(self, source: str, target: str) -> None:
        """Make `source` durable under `target`; an existing target means done."""

    async def delete(self, key: str) -> None:
        """Remove the object (and, for a directory-like prefix, what is under it)."""

    def list(self, prefix: str) -> AsyncIterator[str]: ...
