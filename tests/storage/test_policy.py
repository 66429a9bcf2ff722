"""Immutable tags and quotas where storage writes, and the rules' matching, as tables; on
SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from manifests.digest import Digest
from manifests.mediatypes import OCI_MANIFEST
from storage import usage_report
from storage.errors import BlobUnknown, ManifestUnknown, PolicyDenied, QuotaExceeded
from storage.globs import Globs
from storage.hashing import digests_of
from storage.policy import ImmutableTags, Quota, StoragePolicy
from storage.store import Storage

OpenStorage = Callable[[StoragePolicy], Awaitable[Storage]]
IMMUTABLE = StoragePolicy(
    immutable_tags=(ImmutableTags(1, Globs.of(["prod/**"]), Globs.of(["v*", "release-*"])),)
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def open_storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenStorage]:
    url = (
        None
        if request.param == "sqlite"
        else request.getfixturevalue("postgres").emptied_database()
    )
    opened: list[Storage] = []

    async def open_with(policy: StoragePolicy) -> Storage:
        opened.append(await Storage.open(tmp_path / "data", url, policy=policy))
        return opened[-1]

    yield open_with
    for storage in opened:
        await storage.close()


def quotas(*rules: tuple[list[str], int]) -> StoragePolicy:
    return StoragePolicy(
        quotas=tuple(Quota(n, Globs.of(globs), limit) for n, (globs, limit) in enumerate(rules, 1))
    )


async def push_blob(storage: Storage, repository: str, data: bytes) -> Digest:
    digests = digests_of(data)
    key = f"uploads/{os.urandom(8).hex()}/data"
    await storage.objects.put_bytes(key, data)
    await storage.blobs.publish(key, repository, digests, len(data), "test")
    return digests["sha256"]


def image(config: bytes, *layers: bytes) -> bytes:
    def described(data: bytes) -> dict[str, object]:
        return {
            "mediaType": OCI_MANIFEST,
            "digest": str(digests_of(data)["sha256"]),
            "size": len(data),
        }

    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": described(config) | {"mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [
            described(layer) | {"mediaType": "application/octet-stream"} for layer in layers
        ],
    }
    return json.dumps(body).encode()


async def push_image(storage: Storage, repository: str, tag: str, config: bytes) -> bytes:
    await push_blob(storage, repository, config)
    body = image(config)
    await storage.manifests.put(repository, tag, body, OCI_MANIFEST, [tag], "test")
    return body


def digest_of(body: bytes) -> str:
    return str(digests_of(body)["sha256"])


# (repository, tag) -> protected by IMMUTABLE?
@pytest.mark.parametrize(
    ("repository", "tag", "protected"),
    [
        pytest.param("prod/api", "v1.2", True, id="version-tag"),
        pytest.param("prod/team/api", "release-7", True, id="nested-repository"),
        pytest.param("prod/api", "latest", False, id="latest-stays-mutable"),
        pytest.param("dev/api", "v1.2", False, id="other-repository"),
        pytest.param("prod", "v1", False, id="namespace-itself-not-under-it"),
        pytest.param("prod/api", "xv1", False, id="glob-anchored"),
    ],
)
def test_which_tags_a_rule_protects(repository: str, tag: str, protected: bool) -> None:
    assert (IMMUTABLE.protecting(repository, tag) is not None) is protected


# step: (action, tag or None for the digest of the first image, which image) -> refused?
Step = tuple[str, str, int, bool]


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([("push", "v1", 1, False), ("push", "v1", 1, False)], id="same-digest-again"),
        pytest.param([("push", "v1", 1, False), ("push", "v1", 2, True)], id="move-refused"),
        pytest.param(
            [("push", "v1", 1, False), ("delete-tag", "v1", 1, True)], id="delete-refused"
        ),
        pytest.param(
            [("push", "v1", 1, False), ("delete-manifest", "", 1, True)],
            id="manifest-delete-refused",
        ),
        pytest.param(
            [
                ("push", "latest", 1, False),
                ("push", "latest", 2, False),
                ("delete-tag", "latest", 2, False),
            ],
            id="latest-mutable",
        ),
        pytest.param(
            [("push", "dev", 1, False), ("delete-manifest", "", 1, False)],
            id="unprotected-manifest-deletes",
        ),
    ],
)
async def test_immutable_tags(open_storage: OpenStorage, steps: list[Step]) -> None:
    storage = await open_storage(IMMUTABLE)
    bodies = {n: image(f'{{"n": {n}}}'.encode()) for n in (1, 2)}
    for action, tag, n, refused in steps:
        try:
            if action == "push":
                await push_image(storage, "prod/api", tag, f'{{"n": {n}}}'.encode())
            elif action == "delete-tag":
                await storage.manifests.delete("prod/api", tag, "test")
            else:
                await storage.manifests.delete("prod/api", digest_of(bodies[n]), "test")
        except PolicyDenied as exc:
            assert refused, exc.message
            assert "immutable_tags rule 1" in exc.message
            continue
        assert not refused, f"{action} {tag} went through"
    pushed = [(tag, n) for action, tag, n, refused in steps if action == "push" and not refused]
    tag, n = pushed[-1]
    deleted = any(action.startswith("delete") and not refused for action, _, _, refused in steps)
    if deleted:
        with pytest.raises(ManifestUnknown):
            await storage.manifests.get("prod/api", tag)
    else:
        assert (await storage.manifests.get("prod/api", tag))[1] == bodies[n]


async def test_a_refused_move_leaves_the_tag_and_writes_nothing(open_storage: OpenStorage) -> None:
    storage = await open_storage(IMMUTABLE)
    first = await push_image(storage, "prod/api", "v1", b'{"n": 1}')
    await push_blob(storage, "prod/api", b'{"n": 2}')
    with pytest.raises(
        PolicyDenied, match=r"tag prod/api:v1 is immutable under immutable_tags rule 1"
    ):
        await storage.manifests.put("prod/api", "v1", image(b'{"n": 2}'), OCI_MANIFEST, ["v1"], "t")
    assert (await storage.manifests.get("prod/api", "v1"))[1] == first
    with pytest.raises(ManifestUnknown):
        await storage.manifests.get("prod/api", digest_of(image(b'{"n": 2}')))


LIMIT = 100


@pytest.mark.parametrize(
    ("policy", "pushes", "refused"),
    [
        pytest.param(quotas((["a/**"], LIMIT)), [("a/x", 60), ("a/x", 40)], [], id="up-to-limit"),
        pytest.param(quotas((["a/**"], LIMIT)), [("a/x", 60), ("a/x", 41)], [1], id="one-over"),
        pytest.param(
            quotas((["a/**"], LIMIT)), [("a/x", 60), ("a/y", 41)], [1], id="namespace-shares-budget"
        ),
        pytest.param(quotas((["a/x"], LIMIT)), [("a/x", 60), ("a/y", 60)], [], id="per-repository"),
        pytest.param(quotas((["a/**"], LIMIT)), [("b/x", 500)], [], id="uncovered"),
        pytest.param(
            quotas((["a/**"], 1000), (["a/x"], LIMIT)),
            [("a/x", 90), ("a/y", 90), ("a/x", 20)],
            [2],
            id="tightest-quota-decides",
        ),
    ],
)
async def test_quotas(
    open_storage: OpenStorage,
    policy: StoragePolicy,
    pushes: list[tuple[str, int]],
    refused: list[int],
) -> None:
    storage = await open_storage(policy)
    for number, (repository, size) in enumerate(pushes):
        data = os.urandom(size)
        if number in refused:
            with pytest.raises(QuotaExceeded, match=r"quota \d .* bytes over the limit"):
                await push_blob(storage, repository, data)
            with pytest.raises(BlobUnknown):  # nothing of it visible
                await storage.blobs.resolve(repository, digests_of(data)["sha256"])
        else:
            await push_blob(storage, repository, data)


async def test_content_a_quota_counts_counts_once(open_storage: OpenStorage) -> None:
    storage = await open_storage(quotas((["team/**"], LIMIT)))
    layer = os.urandom(80)
    await push_blob(storage, "team/one", layer)
    await push_blob(storage, "team/one", layer)  # a re-push
    await push_blob(storage, "team/two", layer)  # the same bytes in another covered repository
    assert await storage.blobs.mount("team/three", "team/one", digests_of(layer)["sha256"], "t")
    await push_blob(storage, "team/two", os.urandom(20))
    with pytest.raises(QuotaExceeded, match=r"100 bytes used, this push adds 1, 1 bytes over"):
        await push_blob(storage, "team/one", b"x")


async def test_a_mount_over_quota_is_refused(open_storage: OpenStorage) -> None:
    storage = await open_storage(quotas((["small/**"], LIMIT)))
    digest = await push_blob(storage, "big/source", os.urandom(150))
    with pytest.raises(QuotaExceeded):
        await storage.blobs.mount("small/target", "big/source", digest, "test")
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve("small/target", digest)


async def test_a_manifest_push_over_quota_is_refused(open_storage: OpenStorage) -> None:
    config = b'{"architecture": "amd64"}'
    body = image(config)
    storage = await open_storage(quotas((["m/**"], len(config) + len(body) - 1)))
    await push_blob(storage, "m/app", config)
    with pytest.raises(QuotaExceeded):
        await storage.manifests.put("m/app", "latest", body, OCI_MANIFEST, ["latest"], "test")
    with pytest.raises(ManifestUnknown):
        await storage.manifests.get("m/app", "latest")


async def test_usage_of_two_repositories_sharing_a_layer(open_storage: OpenStorage) -> None:
    storage = await open_storage(quotas((["shop/**"], 10_000)))
    shared, own_a, own_b = os.urandom(1000), os.urandom(300), os.urandom(200)
    sizes = {}
    for repository, own in (("shop/a", own_a), ("shop/b", own_b)):
        config = f'{{"repository": "{repository}"}}'.encode()
        for data in (config, shared, own):
            await push_blob(storage, repository, data)
        body = image(config, shared, own)
        await storage.manifests.put(repository, "v1", body, OCI_MANIFEST, ["v1", "latest"], "t")
        sizes[repository] = len(config) + len(body) + len(own)
    found = await usage_report.report(storage.db, storage.blobs.policy)
    by_name = {usage.name: usage for usage in found.repositories}
    for repository, unique in sizes.items():
        usage = by_name[repository]
        assert (usage.manifests, usage.tags) == (1, 2)
        assert (usage.unique_bytes, usage.shared_bytes) == (unique, 1000)
        assert usage.logical_bytes == usage.unique_bytes + usage.shared_bytes
    assert found.logical_bytes == sum(sizes.values()) + 2000
    assert found.stored_bytes == sum(sizes.values()) + 1000
    assert found.dedupe_savings_bytes == 1000
    assert [(q.quota, q.used_bytes) for q in found.quotas] == [(1, found.stored_bytes)]
    only = await usage_report.report(storage.db, repository="shop/b")
    assert only.repositories == [by_name["shop/b"]]
