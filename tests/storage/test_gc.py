"""The garbage collector (storage/gc.py) on SQLite and PostgreSQL, filesystem and S3: what
it removes, what it keeps, the grace period, dry runs, a sweep that died half way, and a
push that meets a sweep."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from manifests.digest import Digest
from manifests.mediatypes import OCI_MANIFEST
from storage import cached_manifests, events, gc, layout
from storage.errors import BlobSwept, BlobUnknown, ManifestUnknown
from storage.hashing import digests_of
from storage.schema import blobs, manifests, repository_blobs, uploads
from storage.schema import cached_manifests as cached_manifests_table
from storage.store import Storage
from tests.storage.conftest import unfinished_uploads

REPO = "gc/repo"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
NOW = gc.Policy(grace=0.0, upload_max_age=0.0)


@pytest.fixture(params=["sqlite-filesystem", "postgresql-filesystem", "postgresql-s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    database, backend = request.param.split("-")
    url = request.getfixturevalue("postgres").emptied_database() if database != "sqlite" else None
    s3 = request.getfixturevalue("s3_config") if backend == "s3" else None
    opened = await Storage.open(tmp_path / "data", url, s3)
    yield opened
    await opened.close()


async def push_blob(storage: Storage, data: bytes, repo: str = REPO) -> Digest:
    digests = digests_of(data)
    key = f"uploads/{os.urandom(8).hex()}/data"
    await storage.objects.put_bytes(key, data)
    await storage.blobs.publish(key, repo, digests, len(data), "test")
    return digests["sha256"]


def described(data: bytes, media_type: str) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(digests_of(data)["sha256"]), "size": len(data)}


async def push_image(
    storage: Storage,
    layers: list[bytes],
    tag: str | None,
    subject: bytes | None = None,
    repo: str = REPO,
) -> tuple[str, bytes]:
    config = json.dumps({"layers": len(layers), "nonce": os.urandom(4).hex()}).encode()
    for blob in [config, *layers]:
        await push_blob(storage, blob, repo)
    body: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": described(config, CONFIG),
        "layers": [described(layer, LAYER) for layer in layers],
    }
    if subject is not None:
        body["subject"] = described(subject, OCI_MANIFEST)
    raw = json.dumps(body).encode()
    digest = str(digests_of(raw)["sha256"])
    tag_names = [tag] if tag else []
    await storage.manifests.put(repo, tag or digest, raw, OCI_MANIFEST, tag_names, "test")
    return digest, raw


async def collect(storage: Storage, policy: gc.Policy = NOW) -> gc.Report:
    return await gc.collect(storage.db, storage.objects, policy)


async def stored_keys(storage: Storage) -> set[str]:
    return {key async for key in storage.objects.list(layout.BLOBS)}


def key_of(data: bytes) -> str:
    return layout.blob_key(digests_of(data)["blake3"].hex)


async def age(storage: Storage, seconds: float) -> None:
    """Move every time gc compares with `seconds` into the past."""
    past = datetime.now(UTC) - timedelta(seconds=seconds)
    async with storage.db.write() as conn:
        await conn.execute(update(repository_blobs).values(created=past))
        await conn.execute(update(manifests).values(created=past))
        await conn.execute(update(uploads).values(updated=past))
        await conn.execute(
            update(blobs).where(blobs.c.eligible_since.is_not(None)).values(eligible_since=past)
        )


async def test_deleted_image_loses_only_its_own_blobs(storage: Storage) -> None:
    shared, own, kept = b"shared layer", b"own layer", b"kept layer"
    survivor, _ = await push_image(storage, [shared, kept], "survivor")
    doomed, _ = await push_image(storage, [shared, own], "doomed")
    await storage.manifests.delete(REPO, doomed, "test")

    dry = await collect(storage, replace(NOW, dry_run=True))
    report = await collect(storage)

    own_sha = str(digests_of(own)["sha256"])
    assert dry.dry_run and not report.dry_run
    assert sorted(dry.blobs) == sorted(report.blobs)
    assert own_sha in report.blobs and doomed in report.blobs  # its layer and its manifest
    assert len(report.blobs) == 3  # with the doomed image's own config
    keys = await stored_keys(storage)
    assert key_of(own) not in keys
    assert {key_of(shared), key_of(kept)} <= keys
    await storage.manifests.get(REPO, survivor)
    await storage.blobs.resolve(REPO, digests_of(shared)["sha256"])


async def test_grace_keeps_a_fresh_blob_then_collects_it(storage: Storage) -> None:
    digest = await push_blob(storage, b"no manifest names me")
    hour = gc.Policy()

    first = await collect(storage, hour)
    assert first.blobs == [] and first.links == 0
    await age(storage, 7200)
    unlinked = await collect(storage, hour)  # link removed, blob marked from now
    assert unlinked.links == 1 and unlinked.marked == 1 and unlinked.blobs == []
    await age(storage, 7200)
    swept = await collect(storage, hour)
    assert swept.blobs == [str(digest)]
    assert await stored_keys(storage) == set()

    again = await push_blob(storage, b"no manifest names me")  # pushed again: whole
    blob = await storage.blobs.resolve(REPO, again)
    assert await storage.blobs.read_bytes(blob) == b"no manifest names me"


@pytest.mark.parametrize(
    ("delete_untagged", "keep_orphans", "left"),
    [
        pytest.param(False, False, {"tagged", "untagged"}, id="default"),
        pytest.param(True, False, {"tagged"}, id="delete-untagged"),
        pytest.param(True, True, {"tagged", "referrer"}, id="keep-orphan-referrers"),
    ],
)
async def test_untagged_manifests_and_referrers(
    storage: Storage, delete_untagged: bool, keep_orphans: bool, left: set[str]
) -> None:
    tagged, tagged_body = await push_image(storage, [b"a"], "tagged")
    untagged, _ = await push_image(storage, [b"b"], None)
    subject, subject_body = await push_image(storage, [b"c"], "gone")
    referrer, _ = await push_image(storage, [b"d"], None, subject=subject_body)
    live_referrer, _ = await push_image(storage, [b"e"], None, subject=tagged_body)
    await storage.manifests.delete(REPO, subject, "test")
    await age(storage, 7200)

    policy = replace(NOW, delete_untagged=delete_untagged, keep_orphan_referrers=keep_orphans)
    await collect(storage, policy)

    names = {"tagged": tagged, "untagged": untagged, "referrer": referrer}
    present = {name for name, digest in names.items() if await _exists(storage, digest)}
    assert present == left
    assert await _exists(storage, live_referrer)  # a referrer of a live subject stays


async def _exists(storage: Storage, digest: str) -> bool:
    try:
        await storage.manifests.stat(REPO, digest)
    except ManifestUnknown:
        return False
    return True


async def test_abandoned_upload_is_purged_with_its_chunks(storage: Storage) -> None:
    upload = await storage.uploads.start(REPO)
    await storage.uploads.append(REPO, upload.id, _chunks(b"x" * 1000))
    fresh = await collect(storage, gc.Policy(upload_max_age=3600))
    assert fresh.uploads == 0
    await age(storage, 7200)

    report = await collect(storage, gc.Policy(upload_max_age=3600))

    assert (report.uploads, report.upload_bytes) == (1, 1000)
    assert [key async for key in storage.objects.list(layout.UPLOADS)] == []
    s3 = getattr(storage.objects, "client", None)
    if s3 is not None:
        assert await unfinished_uploads(storage.objects) == []  # type: ignore[arg-type]


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_sweep_that_died_is_finished_by_the_next_run(storage: Storage) -> None:
    digest = await push_blob(storage, b"half swept")
    await age(storage, 7200)
    await collect(storage, gc.Policy())  # unlinked and marked
    await age(storage, 7200)
    key = digests_of(b"half swept")["blake3"].hex
    async with storage.db.write() as conn:  # what a run killed after its first step leaves
        await conn.execute(update(blobs).values(sweeping=datetime.now(UTC)))

    with pytest.raises(BlobSwept):  # nothing can link it meanwhile
        await push_blob(storage, b"half swept", "gc/other")
    report = await collect(storage, gc.Policy())

    assert report.blobs == [str(digest)]
    async with storage.db.read() as conn:
        assert (await conn.execute(select(blobs.c.key).where(blobs.c.key == key))).first() is None
    assert await stored_keys(storage) == set()


async def test_a_push_after_the_bytes_went_fails_cleanly_then_succeeds(storage: Storage) -> None:
    data = b"pushed while swept"
    digests = digests_of(data)
    source = f"uploads/{os.urandom(8).hex()}/data"
    await storage.objects.put_bytes(source, data)
    await storage.objects.publish(source, layout.blob_key(digests["blake3"].hex))
    await storage.objects.delete(layout.blob_key(digests["blake3"].hex))  # the sweep's delete

    async with storage.db.write() as conn:  # the push's transaction, after the publish
        with pytest.raises(BlobSwept):
            await storage.blobs.record(conn, REPO, digests, len(data))
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve(REPO, digests["sha256"])
    await push_blob(storage, data)  # the client's retry
    blob = await storage.blobs.resolve(REPO, digests["sha256"])
    assert await storage.blobs.read_bytes(blob) == data


async def test_orphan_objects_older_than_the_grace_are_deleted(storage: Storage) -> None:
    orphan = layout.blob_key(digests_of(b"never recorded")["blake3"].hex)
    await storage.objects.put_bytes(orphan, b"never recorded")
    await storage.objects.put_bytes("quarantine/" + "ab" * 32, b"set aside")
    await storage.objects.put_bytes(layout.upload_key("no-such-session"), b"left over")
    await push_image(storage, [b"recorded"], "kept")

    hour = await collect(storage, gc.Policy())
    assert hour.orphans == 0
    report = await collect(storage, replace(NOW, grace=0.0))

    assert report.orphans == (2 if _dates(storage) else 0)
    assert [k async for k in storage.objects.list("quarantine")] == ["quarantine/" + "ab" * 32]
    await storage.objects.delete("quarantine")
    assert await storage.blobs.resolve(REPO, digests_of(b"recorded")["sha256"])


def _dates(storage: Storage) -> bool:
    from storage.objects import dated

    return dated(storage.objects) is not None


def collected_total(kind: str) -> float:
    found = REGISTRY.get_sample_value("artifact_store_gc_collected_total", {"kind": kind})
    return found or 0.0


async def test_the_event_log_and_the_metrics_say_what_was_collected(storage: Storage) -> None:
    doomed, _ = await push_image(storage, [b"only mine"], None)
    await storage.manifests.delete(REPO, doomed, "test")
    before = collected_total("blob")
    report = await collect(storage)

    assert collected_total("blob") - before == len(report.blobs) == 3
    logged = [event.fields() for event in await events.after(storage.db, 0, 1000)]
    collected = {e["digest"] for e in logged if e["action"] == "blob.collect"}
    assert collected == set(report.blobs)
    summary = [e for e in logged if e["action"] == "gc.run"]
    assert summary[-1]["blobs"] == len(report.blobs) and summary[-1]["actor"] == "gc"


async def test_a_push_that_died_mid_stream_leaves_nothing_after_the_reaper(
    storage: Storage,
) -> None:
    """A whole-blob push whose process died: its data (on S3 an unfinished multipart upload
    with a part sent) goes with its session."""
    upload = await storage.uploads.start(REPO)
    writer = await storage.objects.open_writer(layout.upload_key(upload.id))
    await writer.write(os.urandom(6 * 1024 * 1024))  # past S3's part minimum: a part is sent
    await age(storage, 7200)

    report = await collect(storage, gc.Policy(upload_max_age=3600))

    assert report.uploads == 1
    assert [key async for key in storage.objects.list(layout.UPLOADS)] == []
    if getattr(storage.objects, "client", None) is not None:
        assert await unfinished_uploads(storage.objects) == []  # type: ignore[arg-type]
    await writer.abort()  # what the dead process never did: nothing left for it to drop


CACHED = "hub/library/cached"
CACHES = gc.Caches(prefixes=("hub",), keep=7 * 86400.0)


async def fetch_into_cache(storage: Storage) -> tuple[list[str], list[bytes]]:
    """What the pull-through cache leaves: a manifest stored before its blobs (no
    manifest_refs rows for them), the blobs linked as clients pulled them, one more blob
    linked (a layer of a child not fetched yet), and an untagged manifest pulled by digest."""
    config = json.dumps({"cached": os.urandom(4).hex()}).encode()
    layer, stray = b"cached layer " + os.urandom(4), b"pulled, no manifest yet"
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": described(config, CONFIG),
        "layers": [described(layer, LAYER)],
    }
    raw = json.dumps(body).encode()
    stored = await storage.manifests.put(
        CACHED, "latest", raw, OCI_MANIFEST, ["latest"], "proxy", complete=False
    )
    for blob in (config, layer, stray):
        await push_blob(storage, blob, CACHED)
    by_digest, _ = await push_image(storage, [b"by digest " + os.urandom(4)], None, repo=CACHED)
    for reference, digest in (("latest", stored.digest), (stored.digest, stored.digest)):
        await cached_manifests.fetched(storage.db, CACHED, reference, str(digest))
    await cached_manifests.fetched(storage.db, CACHED, by_digest, by_digest)
    return [str(stored.digest), by_digest], [config, layer, stray]


async def test_a_cached_repository_pulled_recently_is_kept_whole(storage: Storage) -> None:
    digests, cached_blobs = await fetch_into_cache(storage)
    own, _ = await push_image(storage, [b"own"], None)
    await age(storage, 30 * 86400)  # content old, pulls recent

    policy = replace(NOW, delete_untagged=True, caches=CACHES)
    report = await collect(storage, policy)

    assert report.manifests == [f"{REPO}@{own}"]  # the uncached untagged one only
    assert len(report.blobs) == 3  # and its config, layer and manifest blobs
    assert {key_of(blob) for blob in cached_blobs} <= await stored_keys(storage)
    assert str((await storage.manifests.stat(CACHED, "latest")).digest) == digests[0]
    assert str((await storage.manifests.stat(CACHED, digests[1])).digest) == digests[1]
    async with storage.db.read() as conn:
        rows = (await conn.execute(select(cached_manifests_table))).all()
    assert len(rows) == 3


async def test_a_cached_repository_not_pulled_within_the_window_is_collected(
    storage: Storage,
) -> None:
    digests, cached_blobs = await fetch_into_cache(storage)
    kept, _ = await push_image(storage, [b"kept"], "kept")
    await age(storage, 30 * 86400)
    async with storage.db.write() as conn:
        await conn.execute(
            update(cached_manifests_table).values(last_pulled=datetime.now(UTC) - timedelta(days=8))
        )

    report = await collect(storage, replace(NOW, caches=CACHES))

    assert sorted(report.manifests) == sorted(f"{CACHED}@{digest}" for digest in digests)
    assert report.links == 3 + 2  # the blobs the cache linked; the digest-pulled image's
    keys = await stored_keys(storage)
    assert not {key_of(blob) for blob in cached_blobs} & keys
    with pytest.raises(ManifestUnknown):
        await storage.manifests.stat(CACHED, "latest")
    async with storage.db.read() as conn:
        assert (await conn.execute(select(cached_manifests_table))).all() == []
    assert await _exists(storage, kept)


async def test_without_the_prefixes_a_cached_repository_keeps_its_links_and_manifests(
    storage: Storage,
) -> None:
    """gc run without the configuration: the cache's rows tell which repositories are
    cached; their links stay, and nothing is collected as idle (no upstream to fetch from)."""
    _, cached_blobs = await fetch_into_cache(storage)
    await age(storage, 30 * 86400)
    async with storage.db.write() as conn:
        past = datetime.now(UTC) - timedelta(days=8)
        await conn.execute(update(cached_manifests_table).values(last_pulled=past))

    report = await collect(storage)

    assert (report.manifests, report.links, report.blobs) == ([], 0, [])
    assert {key_of(blob) for blob in cached_blobs} <= await stored_keys(storage)
