"""In-process cache of positive lookups (tag → manifest, digest → blob), per repository.

Any change to a repository drops its entries. A reader records the
repository's generation before it queries and stores its answer only if no
change happened meanwhile, so a slow read never caches a stale answer.
storage/caches.py holds every instance and decides which are enabled and
when a repository's entries go.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class LookupCache(Generic[V]):
    def __init__(self, enabled: bool, limit: int = 100_000) -> None:
        self.enabled = enabled
        self._limit = limit
        self._size = 0
        self._entries: dict[str, dict[str, V]] = {}
        self._generations: dict[str, int] = {}
        self._epoch = 0  # moves when every repository's entries go at once

    def get(self, repository: str, key: str) -> V | None:
        if not self.enabled:
            return None
        return self._entries.get(repository, {}).get(key)

    def generation(self, repository: str) -> int:
        return self._epoch + self._generations.get(repository, 0)

    def put(self, repository: str, key: str, value: V, generation: int) -> None:
        if not self.enabled or generation != self.generation(repository):
            return
        if self._size >= self._limit:
            self._entries.clear()
            self._size = 0
        self._entries.setdefault(repository, {})[key] = value
        self._size += 1

    def invalidate(self, repository: str) -> None:
        self._generations[repository] = self._generations.get(repository, 0) + 1
        self._size -= len(self._entries.pop(repository, {}))

    def invalidate_all(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self._size = 0
