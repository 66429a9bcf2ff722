"""The browsing views over real storage (SQLite in a temporary data directory): pages
by name, the figures of each repository, tags with sizes and platforms, both digests
of what a manifest references, the referrer tree, and store totals."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storage.browsing import Browsing
from storage.errors import ManifestUnknown, NameUnknown
from storage.hashing import digests_of
from storage.store import Storage

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    opened = await Storage.open(tmp_path / "data")
    yield opened
    await opened.close()


@pytest.fixture
def browsing(storage: Storage) -> Browsing:
    return Browsing(storage.db, storage.manifests)


async def blob(storage: Storage, repository: str, data: bytes) -> dict[str, Any]:
    digest = digests_of(data, [])["sha256"]

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await storage.uploads.push(repository, digest, chunks(), "test")
    return {"mediaType": "application/octet-stream", "digest": str(digest), "size": len(data)}


async def put(storage: Storage, repository: str, document: dict[str, Any], *tags: str) -> str:
    body = json.dumps(document).encode()
    reference = tags[0] if tags else str(digests_of(body, [])["sha256"])
    stored = await storage.manifests.put(
        repository, reference, body, document["mediaType"], list(tags), "test"
    )
    return stored.digest


async def image(storage: Storage, repository: str, layer: bytes, *tags: str, **extra: Any) -> str:
    config = await blob(storage, repository, b"{}" + layer[:4])
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {**config, "mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [await blob(storage, repository, layer)],
        **extra,
    }
    return await put(storage, repository, document, *tags)


def subject_of(digest: str) -> dict[str, Any]:
    return {"subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1}}


async def test_repositories_page_by_name_with_their_figures(
    storage: Storage, browsing: Browsing
) -> None:
    await image(storage, "b/app", b"shared layer", "v1", "v2")
    await image(storage, "a/app", b"shared layer", "latest")
    await blob(storage, "c/empty", b"only a blob")
    first = await browsing.repositories(None, 2)
    assert [r.name for r in first.items] == ["a/app", "b/app"]
    assert first.next_after == "b/app"
    app = first.items[1]
    assert app.tags == 2 and app.last_push is not None
    manifest = await storage.manifests.stat("b/app", "v1")
    assert app.size == len(b"shared layer") + len(b"{}shar") + manifest.size
    rest = await browsing.repositories("b/app", 2)
    assert [r.name for r in rest.items] == ["c/empty"] and rest.next_after is None
    assert rest.items[0].tags == 0 and rest.items[0].last_push is None


async def test_filter_and_visibility(storage: Storage, browsing: Browsing) -> None:
    for name in ("team/one", "team/two", "other/one", "x_y/z"):
        await blob(storage, name, b"x")
    found = await browsing.repositories(None, 10, "one")
    assert [r.name for r in found.items] == ["other/one", "team/one"]
    assert [r.name for r in (await browsing.repositories(None, 10, "_")).items] == ["x_y/z"]
    visible = await browsing.repositories(None, 1, "", lambda name: name.startswith("team/"))
    assert [r.name for r in visible.items] == ["team/one"] and visible.next_after == "team/one"


async def test_tags_with_sizes_and_platforms(storage: Storage, browsing: Browsing) -> None:
    children = []
    for arch in ("amd64", "arm64"):
        digest = await image(storage, "app", arch.encode() * 100, f"only-{arch}")
        platform = {"os": "linux", "architecture": arch}
        children.append(
            {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "platform": platform}
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    await put(storage, "app", index, "multi")
    page = await browsing.tags("app", None, 10)
    by_name = {tag.name: tag for tag in page.items}
    assert list(by_name) == ["multi", "only-amd64", "only-arm64"]
    assert by_name["multi"].platforms == ("linux/amd64", "linux/arm64")
    assert by_name["only-amd64"].platforms == ()
    assert by_name["only-amd64"].size > 500  # the manifest, its config and its 500-byte layer
    second = await browsing.tags("app", "multi", 1)
    assert [t.name for t in second.items] == ["only-amd64"] and second.next_after == "only-amd64"
    with pytest.raises(NameUnknown):
        await browsing.tags("missing", None, 10)


async def test_manifest_with_both_digests_and_a_referrer_tree(
    storage: Storage, browsing: Browsing
) -> None:
    subject = await image(storage, "app", b"layer bytes", "v1")
    signature = await image(storage, "app", b"sig", artifactType=SIGNATURE, **subject_of(subject))
    sbom = await image(storage, "app", b"sbom", artifactType=SBOM, **subject_of(subject))
    signed_sbom = await image(storage, "app", b"sig2", artifactType=SIGNATURE, **subject_of(sbom))
    details = await browsing.manifest("app", "v1")
    assert details.digest == subject and details.tags == ["v1"]
    layer = details.manifest.layers[0]
    assert details.blake3_of[layer.digest] == digests_of(b"layer bytes", [])["blake3"].hex
    assert details.blake3 == digests_of(details.body, [])["blake3"].hex
    tree = details.referrers
    assert sorted(tree) == [SBOM, SIGNATURE]
    assert [str(n.descriptor.digest) for n in tree[SIGNATURE]] == [signature]
    (sbom_node,) = tree[SBOM]
    assert [str(n.descriptor.digest) for n in sbom_node.groups[SIGNATURE]] == [signed_sbom]
    with pytest.raises(ManifestUnknown):
        await browsing.manifest("app", "nope")


async def test_totals_count_dedupe(storage: Storage, browsing: Browsing) -> None:
    shared = b"s" * 10_000
    for name in ("a", "b", "c"):
        await blob(storage, name, shared)
    totals = await browsing.totals()
    assert totals.repositories == 3 and totals.blobs == 1
    assert totals.stored_bytes == 10_000 and totals.logical_bytes == 30_000
    assert totals.dedupe_ratio == 3.0 and totals.saved_bytes == 20_000


async def test_recent_events_newest_first(storage: Storage, browsing: Browsing) -> None:
    await image(storage, "app", b"l", "v1")
    events = await browsing.recent_events(2)
    assert len(events) == 2 and events[0].seq > events[1].seq
    assert events[0].fields()["action"] == "tag.push"
