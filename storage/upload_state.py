"""What this process keeps in memory about upload sessions: each one's running digests and
stored parts (its Progress), and the lock that lets one request at a time write to it.

Clients abandon sessions without closing or cancelling them, so the table is
bounded: a session's state is dropped once it has been idle for IDLE seconds,
or, least recently used first, when the table holds more than LIMIT states.
Dropping one costs only speed: the next request to that session rebuilds the
digests from the stored parts. A state that a request holds or waits for is
never dropped, so two requests to one session always share one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from storage.hashing import Verifier

IDLE = 15 * 60.0  # seconds
LIMIT = 4096  # sessions; a state is a few KiB


@dataclass(slots=True)
class Progress:
    """What this process knows of a session: the running digests and the stored parts."""

    verifier: Verifier
    parts: list[tuple[str, int]]  # (key, size) in order


@dataclass(slots=True)
class _State:
    used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    progress: Progress | None = None
    users: int = 0  # requests holding or waiting for the lock


class SessionStates:
    def __init__(
        self, limit: int = LIMIT, idle: float = IDLE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._idle = idle
        self._clock = clock
        self._states: OrderedDict[str, _State] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._states)

    @contextlib.asynccontextmanager
    async def lock(self, upload_id: str) -> AsyncIterator[None]:
        """Exclusive use of the session for the duration of one request."""
        state = self._touch(upload_id)
        state.users += 1
        self._prune()
        try:
            async with state.lock:
                yield
        finally:
            state.users -= 1
            if self._states.get(upload_id) is state:
                self._touch(upload_id)

    def progress(self, upload_id: str) -> Progress | None:
        state = self._states.get(upload_id)
        return None if state is None else state.progress

    def keep(self, upload_id: str, progress: Progress) -> None:
        self._touch(upload_id).progress = progress
        self._prune()

    def discard_progress(self, upload_id: str) -> None:
        """Forget the running digests (after a failed chunk they may count bytes the store
        did not keep); the next request rebuilds them from the stored parts."""
        state = self._states.get(upload_id)
        if state is not None:
            state.progress = None

    def forget(self, upload_id: str) -> None:
        """Drop everything about a session whose metadata row is gone: it was closed,
        cancelled, or reaped. A request still inside `lock` finishes with the old state."""
        self._states.pop(upload_id, None)

    def _touch(self, upload_id: str) -> _State:
        now = self._clock()
        state = self._states.get(upload_id)
        if state is None:
            state = self._states[upload_id] = _State(now)
        else:
            state.used = now
            self._states.move_to_end(upload_id)
        return state

    def _prune(self) -> None:
        """Drop the oldest states no request uses, while there are too many or they are idle."""
        now = self._clock()
        excess = len(self._states) - self._limit
        idle: list[str] = []
        for upload_id, state in self._states.items():
            if excess <= 0 and now - state.used < self._idle:
                break  # the rest were used more recently still
            if state.users == 0:
                idle.append(upload_id)
                excess -= 1
        for upload_id in idle:
            del self._states[upload_id]
