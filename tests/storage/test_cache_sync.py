"""Caches kept right across processes (storage/cache_sync.py): two Storage instances on one
database, as two workers on one SQLite file or two replicas on one PostgreSQL have. What
one changes, the other's next read sees, though it had the old answer cached."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from manifests.digest import Digest
from manifests.mediatypes import OCI_MANIFEST
from storage.change_count import ChangeCount
from storage.errors import BlobUnknown, ManifestUnknown
from storage.hashing import digests_of
from storage.store import Storage

REPO = "sync/repo"


@pytest.fixture(params=["sqlite", "postgresql"])
async def two(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Storage, Storage]]:
    url = (
        None
        if request.param == "sqlite"
        else request.getfixturevalue("postgres").emptied_database()
    )
    one = await Storage.open(tmp_path / "data", url)
    other = await Storage.open(tmp_path / "data", url, migrate=False)
    yield one, other
    await one.close()
    await other.close()


async def push_blob(storage: Storage, data: bytes) -> Digest:
    digests = digests_of(data)
    key = f"uploads/{os.urandom(8).hex()}/data"
    await storage.objects.put_bytes(key, data)
    await storage.blobs.publish(key, REPO, digests, len(data), "test")
    return digests["sha256"]


async def push_image(storage: Storage, tag: str, label: str) -> str:
    config = json.dumps({"os": "linux", "label": label}).encode()
    digest = await push_blob(storage, config)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x/y", "digest": str(digest), "size": len(config)},
            "layers": [],
        }
    ).encode()
    return (await storage.manifests.put(REPO, tag, body, None, [tag], "test")).digest


async def test_a_tag_moved_through_one_is_seen_at_once_through_the_other(
    two: tuple[Storage, Storage],
) -> None:
    one, other = two
    first = await push_image(one, "latest", "first")
    assert (await other.manifests.stat(REPO, "latest")).digest == first  # cached there now
    assert other.caches.manifests.get(REPO, "latest") is not None
    second = await push_image(one, "latest", "second")
    assert (await other.manifests.stat(REPO, "latest")).digest == second


async def test_tags_and_deletes_through_one_are_seen_through_the_other(
    two: tuple[Storage, Storage],
) -> None:
    one, other = two
    manifest = await push_image(one, "v1", "v1")
    blob = await push_blob(one, b"a layer")
    assert (await other.manifests.list_tags(REPO, None, None)).items == ["v1"]
    await other.blobs.resolve(REPO, blob)
    await push_image(one, "v2", "v2")
    assert (await other.manifests.list_tags(REPO, None, None)).items == ["v1", "v2"]
    await one.blobs.unlink(REPO, blob, "test")
    with pytest.raises(BlobUnknown):
        await other.blobs.resolve(REPO, blob)
    await other.manifests.stat(REPO, manifest)
    await one.manifests.delete(REPO, manifest, "test")
    with pytest.raises(ManifestUnknown):
        await other.manifests.stat(REPO, manifest)


async def test_pushes_elsewhere_that_only_add_keep_the_cache(
    two: tuple[Storage, Storage],
) -> None:
    one, other = two
    await push_image(one, "kept", "kept")
    await other.manifests.stat(REPO, "kept")
    before = other.caches.manifests.generation(REPO)
    await push_blob(one, b"another layer")  # blob.push: no cached answer changes
    await other.manifests.stat(REPO, "kept")
    assert other.caches.manifests.generation(REPO) == before
    assert other.caches.manifests.get(REPO, "kept") is not None


def test_the_change_count_is_shared_through_the_file_and_made_at_first_use(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metadata.db-changes"
    one, other = ChangeCount(path), ChangeCount(path)  # two mappings, as two processes have
    assert not path.exists()
    before = other.read()
    one.bump()
    one.bump()
    assert other.read() == before + 2
    one.close()
    other.close()


async def test_every_committed_write_moves_the_count(tmp_path: Path) -> None:
    storage = await Storage.open(tmp_path / "data")
    try:
        assert storage.db.changes is not None
        before = storage.db.changes.read()
        await push_blob(storage, b"counted")
        assert storage.db.changes.read() > before
    finally:
        await storage.close()
