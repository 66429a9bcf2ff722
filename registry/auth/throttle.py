"""A limit on failed logins per client address, over a sliding window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from registry.errors import TooManyFailures

TRACKED = 10_000  # client addresses remembered before old ones are dropped


class LoginThrottle:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        """Raises TooManyFailures while the address is over the limit."""
        recent = self._recent(client)
        if self.limit and len(recent) >= self.limit:
            raise TooManyFailures(max(1, int(recent[0] + self.window - self.clock()) + 1))

    def reserve(self, client: str) -> None:
        """Counts an attempt as failed before its password is checked (`succeeded` clears
        it), so concurrent guesses cannot pass the limit between check and verdict."""
        self.check(client)
        self.failed(client)

    def failed(self, client: str) -> None:
        if not self.limit:
            return
        if len(self._failures) >= TRACKED:
            self._forget_quiet()
        self._failures.setdefault(client, deque(maxlen=self.limit)).append(self.clock())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client, deque())
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def _forget_quiet(self) -> None:
        horizon = self.clock() - self.window
        for client in [c for c, f in self._failures.items() if not f or f[-1] <= horizon]:
            del self._failures[client]
        while len(self._failures) >= TRACKED:
            del self._failures[next(iter(self._failures))]
