"""The request bodies flowing into each upload session, so that a cancel can stop them.

A cancel must not wait behind a PATCH (or a closing PUT) until the client has
sent its whole body: that may take minutes, or never happen. Each such request
reads its body through an Intake registered under its session from the moment
it arrives, so requests still queued on the session's lock count too. Ending a
session ends its intakes: an ended intake raises BlobUploadUnknown at its next
chunk, or at once if it is waiting for the client's next bytes (that wait, and
only that wait, is cancelled). A write to the store is never interrupted; the
chunk is aborted like any chunk that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from storage.errors import BlobUploadUnknown


class Intake:
    """One request's body on its way into a session; empty when the request has none."""

    def __init__(self, upload_id: str, chunks: AsyncIterator[bytes] | None) -> None:
        self.upload_id = upload_id
        self._chunks = chunks
        self._ended = False
        self._waiting: asyncio.Task[Any] | None = None  # the request, while it awaits bytes

    def __aiter__(self) -> Intake:
        return self

    async def __anext__(self) -> bytes:
        self.check()
        if self._chunks is None:
            raise StopAsyncIteration
        self._waiting = task = asyncio.current_task()
        try:
            return await anext(self._chunks)
        except asyncio.CancelledError:
            # Ours if end() cancelled the wait and nothing else cancelled the request.
            if self._ended and task is not None and task.uncancel() == 0:
                raise self._unknown() from None
            raise
        finally:
            self._waiting = None

    def check(self) -> None:
        if self._ended:
            raise self._unknown()

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._waiting is not None:
            self._waiting.cancel()

    def _unknown(self) -> BlobUploadUnknown:
        return BlobUploadUnknown({"upload": self.upload_id, "cancelled": True})


class Intakes:
    """The intakes open on each session; an entry lives only as long as its request."""

    def __init__(self) -> None:
        self._open: dict[str, set[Intake]] = {}

    @contextlib.contextmanager
    def open(self, upload_id: str, chunks: AsyncIterator[bytes] | None) -> Iterator[Intake]:
        intake = Intake(upload_id, chunks)
        self._open.setdefault(upload_id, set()).add(intake)
        try:
            yield intake
        finally:
            session = self._open[upload_id]
            session.discard(intake)
            if not session:
                del self._open[upload_id]

    def end(self, upload_id: str) -> None:
        for intake in self._open.get(upload_id, ()):
            intake.end()
