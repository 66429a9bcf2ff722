"""Every in-process cache of what storage reads, and the one place that drops them.

  cache            holds                           filled by
  repository_ids   name → row id                   ensure_repository
  blobs            (repository, digest) → Blob     BlobStore.resolve
  manifests        (repository, reference) → row   ManifestStore.stat
  tag_lists        repository → its tags, sorted   ManifestStore
  manifest_bytes   storage key → bytes             ManifestStore

Readers fill them. Writers never touch them: they call `changed(repository)`
once their transaction has committed, and that drops the repository's entries
from every per-repository cache. A reader takes the repository's generation
before it queries and stores its answer only if no change came meanwhile, so a
slow read never caches a stale answer (storage/lookup_cache.py). Only positive
answers are cached, so writes that only add (a blob pushed or mounted) leave
the caches alone. Manifest bytes are cached by storage key: the bytes under a
key never change, so no change to a repository makes them stale.

Other processes (a server's workers, replicas on PostgreSQL) write too: a
reader calls `catch_up()` before it consults a cache, and the CacheSync
attached to `sync` drops what they changed (storage/cache_sync.py). Without
one, the lookups are for a process that makes every write itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage.lookup_cache import LookupCache

if TYPE_CHECKING:
    from storage.blobs import Blob
    from storage.cache_sync import CacheSync
    from storage.manifest_store import StoredManifest

CONTENT_LIMIT = 64 * 1024 * 1024  # bytes of manifests kept in memory


class ContentCache:
    """Bytes by storage key, up to `limit` bytes in all; when full it starts over."""

    def __init__(self, limit: int = CONTENT_LIMIT) -> None:
        self._limit = limit
        self._size = 0
        self._entries: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: str, data: bytes) -> None:
        if key in self._entries:
            return
        if self._size + len(data) > self._limit:
            self._entries.clear()
            self._size = 0
        self._entries[key] = data
        self._size += len(data)


class RepositoryCaches:
    """The caches of one Storage, invalidated per repository."""

    def __init__(self, lookups: bool) -> None:
        self.repository_ids: LookupCache[int] = LookupCache(True)
        self.blobs: LookupCache[Blob] = LookupCache(lookups)
        self.manifests: LookupCache[StoredManifest] = LookupCache(lookups)
        self.tag_lists: LookupCache[list[str]] = LookupCache(lookups)
        self.manifest_bytes = ContentCache()
        self.sync: CacheSync | None = None

    async def catch_up(self) -> None:
        """Before a read consults a cache: what other processes changed is dropped."""
        if self.sync is not None:
            await self.sync.catch_up()

    def changed(self, repository: str) -> None:
        """Drop everything cached about the repository; called after each committed change."""
        for cache in self._per_repository():
            cache.invalidate(repository)

    def changed_everywhere(self) -> None:
        """Drop everything cached about every repository."""
        for cache in self._per_repository():
            cache.invalidate_all()

    def _per_repository(self) -> tuple[LookupCache[Any], ...]:
        return (self.repository_ids, self.blobs, self.manifests, self.tag_lists)
