"""Immutable tags and quotas where storage writes, and the rules' matching, as tables; on
SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from manifests.digest import Digest
from manifests.mediatypes import OCI_INDEX, OCI_MANIFEST
from storage import events, gc, layout, usage_report
from storage.errors import (
    BlobUnknown,
    BlobUploadUnknown,
    ManifestUnknown,
    PolicyDenied,
    QuotaExceeded,
)
from storage.globs import Globs
from storage.hashing import digests_of
from storage.leases import Leases
from storage.policy import ImmutableTags, Quota, Retention, StoragePolicy
from storage.retention import apply_retention, plan, retain_then_collect
from storage.schema import tags
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
    refused_key = digests_of(image(b'{"n": 2}'))["blake3"].hex
    assert await storage.objects.stat(layout.blob_key(refused_key)) is None


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
    assert await storage.objects.stat(layout.blob_key(digests_of(body)["blake3"].hex)) is None


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


NOW = datetime(2026, 6, 1, tzinfo=UTC)
SIX_TAGS = [("release-1", 6), ("a", 5), ("b", 4), ("c", 3), ("d", 2), ("e", 1)]  # tag, days ago


def retention(**rule: Any) -> StoragePolicy:
    window = rule.pop("pushed_within", None)
    return StoragePolicy(
        immutable_tags=IMMUTABLE.immutable_tags,
        retention=(
            Retention(
                1,
                Globs.of(["prod/**"]),
                Globs.of(rule.pop("keep_tags", [])),
                rule.pop("keep_most_recent", 0),
                window,
                rule.pop("delete_untagged", False),
            ),
        ),
    )


async def push_tags(storage: Storage, tagged: list[tuple[str, int]], same: bool = False) -> None:
    """Each tag on a manifest of its own (or all on one), pushed `days` ago."""
    for tag, days in tagged:
        await push_image(storage, "prod/app", tag, b"{}" if same else f'{{"t": "{tag}"}}'.encode())
        async with storage.db.write() as conn:
            when = NOW - timedelta(days=days)
            await conn.execute(update(tags).where(tags.c.name == tag).values(updated=when))


@pytest.mark.parametrize(
    ("policy", "tagged", "kept"),
    [
        pytest.param(
            retention(keep_most_recent=2, keep_tags=["release-*"]),
            SIX_TAGS,
            ["d", "e", "release-1"],
            id="most-recent-and-release",
        ),
        pytest.param(
            retention(pushed_within=3.5 * 86400),
            SIX_TAGS,
            ["c", "d", "e", "release-1"],  # release-1: immutable
            id="pushed-within",
        ),
        pytest.param(retention(), [("v1", 9), ("v2", 8), ("x", 7)], ["v1", "v2"], id="immutable"),
        pytest.param(
            retention(keep_most_recent=6), SIX_TAGS, [t for t, _ in sorted(SIX_TAGS)], id="all-kept"
        ),
    ],
)
async def test_retention_keeps_the_tags_its_rule_names(
    open_storage: OpenStorage, policy: StoragePolicy, tagged: list[tuple[str, int]], kept: list[str]
) -> None:
    storage = await open_storage(policy)
    await push_tags(storage, tagged)
    before = await storage.manifests.list_tags("prod/app", None, None)
    dry = await apply_retention(storage.manifests, policy, dry_run=True, actor="r", now=NOW)
    assert await storage.manifests.list_tags("prod/app", None, None) == before
    gone = sorted(set(before.items) - set(kept))
    assert sorted(victim.tag for victim in dry.tags) == gone
    assert len(dry.manifests) == len(gone)  # each tag had a manifest of its own
    done = await apply_retention(storage.manifests, policy, dry_run=False, actor="r", now=NOW)
    assert done.document() | {"dry_run": True} == dry.document()
    assert (await storage.manifests.list_tags("prod/app", None, None)).items == kept
    for victim in done.manifests:
        with pytest.raises(ManifestUnknown):
            await storage.manifests.get("prod/app", victim.digest)
    found = await usage_report.report(storage.db, repository="prod/app")
    assert found.repositories[0].manifests == len(kept)
    deleted = [
        e.fields() for e in await events.after(storage.db, 0, 1000) if e.fields()["actor"] == "r"
    ]
    assert sorted(e["tag"] for e in deleted if e["action"] == "tag.delete") == gone


def config_key(tag: str) -> str:
    """The storage key of the config blob `push_tags` gives the tag's manifest."""
    return layout.blob_key(digests_of(f'{{"t": "{tag}"}}'.encode())["blake3"].hex)


async def test_gc_applies_retention_then_reclaims_the_blobs(open_storage: OpenStorage) -> None:
    policy = retention(keep_most_recent=2, keep_tags=["release-*"])
    storage = await open_storage(policy)
    await push_tags(storage, SIX_TAGS)
    before = await storage.manifests.list_tags("prod/app", None, None)
    dry = await retain_then_collect(
        storage.manifests, storage.objects, gc.Policy(grace=0, dry_run=True), "one/1/a"
    )
    assert dry is not None and dry.report is not None
    assert sorted(victim.tag for victim in dry.retention.tags) == ["a", "b", "c"]
    assert dry.document()["retention"]["dry_run"] is True
    assert await storage.manifests.list_tags("prod/app", None, None) == before
    assert all([await storage.objects.stat(config_key(tag)) for tag, _ in SIX_TAGS])
    # another process collecting: this one applies no retention either
    assert await Leases(storage.db).claim(gc.LEASE, "other/1/b", 600)
    busy = await retain_then_collect(storage.manifests, storage.objects, gc.Policy(), "one/1/a")
    assert busy is None
    assert await storage.manifests.list_tags("prod/app", None, None) == before
    await Leases(storage.db).release(gc.LEASE, "other/1/b")
    done = await retain_then_collect(
        storage.manifests, storage.objects, gc.Policy(grace=0), "one/1/a"
    )
    assert done is not None and done.report is not None
    assert sorted(victim.tag for victim in done.retention.tags) == ["a", "b", "c"]
    assert (await storage.manifests.list_tags("prod/app", None, None)).items == [
        "d",
        "e",
        "release-1",
    ]
    for victim in done.retention.manifests:
        with pytest.raises(ManifestUnknown):
            await storage.manifests.get("prod/app", victim.digest)
    for tag in "abc":
        assert await storage.objects.stat(config_key(tag)) is None
    for tag in ("d", "e", "release-1"):
        assert await storage.objects.stat(config_key(tag)) is not None
    assert len(done.report.blobs) >= 3
    deleted = [e.fields() for e in await events.after(storage.db, 0, 1000)]
    by_retention = [e for e in deleted if e["actor"] == "retention"]
    assert sorted(e["tag"] for e in by_retention if e["action"] == "tag.delete") == ["a", "b", "c"]
    # the lease is free again: the next run takes it
    assert await Leases(storage.db).claim(gc.LEASE, "other/1/b", 600)


async def test_a_manifest_a_kept_tag_names_stays(open_storage: OpenStorage) -> None:
    policy = retention(keep_most_recent=1)
    storage = await open_storage(policy)
    await push_tags(storage, [("old", 3), ("new", 1)], same=True)
    done = await apply_retention(storage.manifests, policy, dry_run=False, actor="r", now=NOW)
    assert ([t.tag for t in done.tags], done.manifests) == (["old"], [])
    assert (await storage.manifests.get("prod/app", "new"))[1] == image(b"{}")


@pytest.mark.parametrize("delete_untagged", [True, False])
async def test_untagged_manifests_go_only_when_asked(
    open_storage: OpenStorage, delete_untagged: bool
) -> None:
    policy = retention(keep_most_recent=5, delete_untagged=delete_untagged)
    storage = await open_storage(policy)
    await push_tags(storage, [("kept", 1)])
    config = b'{"untagged": true}'
    await push_blob(storage, "prod/app", config)
    digest = digest_of(image(config))
    await storage.manifests.put("prod/app", digest, image(config), OCI_MANIFEST, [], "t")
    done = await apply_retention(storage.manifests, policy, dry_run=False, actor="r", now=NOW)
    assert [m.digest for m in done.manifests] == ([digest] if delete_untagged else [])
    found = await usage_report.report(storage.db, repository="prod/app")
    assert found.repositories[0].manifests == (1 if delete_untagged else 2)


def index(*children: bytes) -> bytes:
    listed = [
        {"mediaType": OCI_MANIFEST, "digest": digest_of(child), "size": len(child)}
        for child in children
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}).encode()


@pytest.mark.parametrize("index_kept", [True, False])
async def test_an_index_keeps_its_children(open_storage: OpenStorage, index_kept: bool) -> None:
    policy = retention(keep_tags=["multi"] if index_kept else [], delete_untagged=True)
    storage = await open_storage(policy)
    children = []
    for arch in (b'{"arch": "amd64"}', b'{"arch": "arm64"}'):
        await push_blob(storage, "prod/app", arch)
        children.append(image(arch))
        digest = digest_of(children[-1])
        await storage.manifests.put("prod/app", digest, children[-1], OCI_MANIFEST, [], "t")
    await storage.manifests.put("prod/app", "multi", index(*children), OCI_INDEX, ["multi"], "t")
    done = await apply_retention(storage.manifests, policy, dry_run=False, actor="r", now=NOW)
    assert len(done.manifests) == (0 if index_kept else 3)
    found = await usage_report.report(storage.db, repository="prod/app")
    assert found.repositories[0].manifests == (3 if index_kept else 0)
    assert found.repositories[0].logical_bytes == (found.stored_bytes if index_kept else 0)


async def test_a_signature_stays_with_its_image(open_storage: OpenStorage) -> None:
    policy = retention(keep_tags=["signed"], delete_untagged=True)
    storage = await open_storage(policy)
    signed = await push_image(storage, "prod/app", "signed", b'{"signed": true}')
    await push_blob(storage, "prod/app", b"{}")
    subject = {"mediaType": OCI_MANIFEST, "digest": digest_of(signed), "size": len(signed)}
    signature = json.loads(image(b"{}")) | {"subject": subject}
    body = json.dumps(signature).encode()
    await storage.manifests.put("prod/app", digest_of(body), body, OCI_MANIFEST, [], "t")
    done = await apply_retention(storage.manifests, policy, dry_run=False, actor="r", now=NOW)
    assert (done.tags, done.manifests) == ([], [])


async def test_a_chunked_upload_over_quota_ends_its_session(open_storage: OpenStorage) -> None:
    storage = await open_storage(quotas((["up/**"], LIMIT)))
    data = os.urandom(LIMIT + 1)

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    upload = await storage.uploads.start("up/app")
    await storage.uploads.append("up/app", upload.id, chunks())
    with pytest.raises(QuotaExceeded):
        await storage.uploads.finish("up/app", upload.id, digests_of(data)["sha256"], "t")
    with pytest.raises(BlobUploadUnknown):
        await storage.uploads.get("up/app", upload.id)
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve("up/app", digests_of(data)["sha256"])
    assert [key async for key in storage.objects.list("uploads/")] == []


async def test_a_tag_pushed_again_after_the_plan_stays(open_storage: OpenStorage) -> None:
    policy = retention(keep_most_recent=1)
    storage = await open_storage(policy)
    await push_tags(storage, [("old", 3), ("new", 1)])
    planned = await plan(storage.db, policy, NOW)
    assert [victim.tag for victim in planned.tags] == ["old"]
    moved = await push_image(storage, "prod/app", "old", b'{"pushed": "again"}')
    tag_names = [(victim.tag, victim.key) for victim in planned.tags]
    keys = [victim.key for victim in planned.manifests]
    await storage.manifests.retire("prod/app", tag_names, keys, "r")
    assert (await storage.manifests.get("prod/app", "old"))[1] == moved
    with pytest.raises(ManifestUnknown):  # the manifest the plan named is gone all the same
        await storage.manifests.get("prod/app", planned.manifests[0].digest)
