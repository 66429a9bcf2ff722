"""RepositoryCaches: one change drops everything cached about a repository, in every cache,
and a read that began before the change never stores its (stale) answer."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from manifests.mediatypes import OCI_MANIFEST
from storage.caches import ContentCache, RepositoryCaches
from storage.errors import BlobUnknown
from storage.hashing import digests_of
from storage.lookup_cache import LookupCache
from storage.store import Storage


def per_repository(caches: RepositoryCaches) -> dict[str, LookupCache[Any]]:
    """Every per-repository cache the owner holds, found by type: one added later is
    covered by these tests without being named here."""
    return {name: c for name, c in vars(caches).items() if isinstance(c, LookupCache)}


def test_the_owner_holds_the_five_caches() -> None:
    caches = RepositoryCaches(lookups=True)
    assert set(per_repository(caches)) == {"repository_ids", "blobs", "manifests", "tag_lists"}
    assert isinstance(caches.manifest_bytes, ContentCache)


def test_a_change_drops_the_repository_from_every_cache_and_nothing_else() -> None:
    caches = RepositoryCaches(lookups=True)
    for cache in per_repository(caches).values():
        for repository in ("a", "b"):
            cache.put(repository, "key", f"{repository} value", cache.generation(repository))
    caches.manifest_bytes.put("blake3-key", b"content")
    caches.changed("a")
    for name, cache in per_repository(caches).items():
        assert cache.get("a", "key") is None, name
        assert cache.get("b", "key") == "b value", name
    assert caches.manifest_bytes.get("blake3-key") == b"content"  # immutable by key


def test_a_slow_read_never_caches_a_stale_answer() -> None:
    caches = RepositoryCaches(lookups=True)
    for name, cache in per_repository(caches).items():
        began = cache.generation("a")  # a reader starts its query...
        caches.changed("a")  # ...a writer commits meanwhile...
        cache.put("a", "key", "stale", began)  # ...and the reader's answer arrives
        assert cache.get("a", "key") is None, name
        cache.put("a", "key", "fresh", cache.generation("a"))
        assert cache.get("a", "key") == "fresh", name


def test_lookups_off_cache_only_what_never_changes() -> None:
    caches = RepositoryCaches(lookups=False)
    for name, cache in per_repository(caches).items():
        cache.put("a", "key", "value", cache.generation("a"))
        expected = "value" if name == "repository_ids" else None
        assert cache.get("a", "key") == expected, name


def test_content_is_bounded() -> None:
    content = ContentCache(limit=10)
    content.put("one", b"123456")
    content.put("two", b"123456")  # over the limit: starts over with this one
    assert (content.get("one"), content.get("two")) == (None, b"123456")


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    opened = await Storage.open(tmp_path / "data")
    yield opened
    await opened.close()


async def test_a_manifest_delete_drops_the_blob_lookups_of_its_repository(
    storage: Storage,
) -> None:
    config = b'{"os": "linux"}'
    digests = digests_of(config)
    key = f"uploads/{os.urandom(8).hex()}/data"
    await storage.objects.put_bytes(key, config)
    await storage.blobs.publish(key, "cached/repo", digests, len(config), "test")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x/y", "digest": str(digests["sha256"]), "size": len(config)},
            "layers": [],
        }
    ).encode()
    stored = await storage.manifests.put("cached/repo", "v1", body, None, ["v1"], "test")
    manifest_digest = digests_of(body)["sha256"]
    await storage.blobs.resolve("cached/repo", manifest_digest)  # now a cached lookup
    assert storage.caches.blobs.get("cached/repo", str(manifest_digest)) is not None
    await storage.manifests.delete("cached/repo", stored.digest, "test")
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve("cached/repo", manifest_digest)
