"""What a manifest push checks and records about the content it references: every
reference checked for the repository (in batches, not one query each), the first missing
one named, and one manifest_refs row per child with its kind, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from manifests.digest import Digest
from manifests.mediatypes import OCI_INDEX, OCI_MANIFEST
from storage import layout, repositories
from storage.errors import ManifestBlobUnknown
from storage.hashing import digests_of
from storage.schema import manifest_refs
from storage.store import Storage

REPO = "refs/repo"
LAYER = "application/vnd.oci.image.layer.v1.tar"
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


@pytest.fixture(params=["sqlite", "postgresql"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Storage]:
    url = (
        None
        if request.param == "sqlite"
        else request.getfixturevalue("postgres").emptied_database()
    )
    monkeypatch.setattr(repositories, "BATCH", 2)  # several batches from a few references
    opened = await Storage.open(tmp_path / "data", url)
    yield opened
    await opened.close()


async def push_blob(storage: Storage, data: bytes) -> Digest:
    digests = digests_of(data)
    key = f"uploads/{os.urandom(8).hex()}/data"
    await storage.objects.put_bytes(key, data)
    await storage.blobs.publish(key, REPO, digests, len(data), "test")
    return digests["sha256"]


def described(data: bytes, media_type: str) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(digests_of(data)["sha256"]), "size": len(data)}


def image(config: bytes, layers: list[dict[str, object]]) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": described(config, "application/vnd.oci.image.config.v1+json"),
        "layers": layers,
    }
    return json.dumps(body).encode()


async def refs(storage: Storage, body: bytes) -> set[tuple[str, str]]:
    key = digests_of(body)["blake3"].hex
    query = select(manifest_refs.c.child_key, manifest_refs.c.kind).where(
        manifest_refs.c.manifest_key == key
    )
    async with storage.db.read() as conn:
        return {(row.child_key, row.kind) for row in await conn.execute(query)}


def key_of(data: bytes) -> str:
    return digests_of(data)["blake3"].hex


async def test_each_child_is_recorded_once_with_its_kind(storage: Storage) -> None:
    config, layers = b'{"os": "linux"}', [b"one", b"two", b"three", b"four", b"five"]
    for data in (config, *layers):
        await push_blob(storage, data)
    listed = [described(layer, LAYER) for layer in layers]
    missing_foreign = described(b"lives elsewhere", FOREIGN)
    body = image(config, [*listed, listed[0], missing_foreign])
    await storage.manifests.put(REPO, "v1", body, None, ["v1"], "test")
    expected = {(key_of(config), "config")} | {(key_of(layer), "layer") for layer in layers}
    assert await refs(storage, body) == expected
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [described(body, OCI_MANIFEST)]}
    ).encode()
    await storage.manifests.put(REPO, "all", index, None, ["all"], "test")
    assert await refs(storage, index) == {(key_of(body), "manifest")}


async def test_the_first_missing_reference_is_named_and_nothing_is_written(
    storage: Storage,
) -> None:
    config, layers = b'{"os": "linux"}', [b"one", b"two", b"three"]
    for data in (config, *layers):
        await push_blob(storage, data)
    missing = [b"missing one", b"missing two"]
    body = image(config, [described(d, LAYER) for d in [*layers, *missing]])
    with pytest.raises(ManifestBlobUnknown) as refused:
        await storage.manifests.put(REPO, "v1", body, None, ["v1"], "test")
    assert refused.value.detail == {"digest": str(digests_of(missing[0])["sha256"])}
    assert await refs(storage, body) == set()
    assert await storage.objects.stat(layout.blob_key(key_of(body))) is None
