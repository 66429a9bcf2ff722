"""Scrubbing on real stores (the filesystem, and S3 on a real SeaweedFS): what a scan finds,
what quarantine does to reads, and how a push of the same content heals."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from manifests.digest import Digest
from storage import layout
from storage.blobs import BlobStream
from storage.errors import BlobCorrupt, BlobUnknown, ManifestBlobUnknown, ManifestUnknown
from storage.filesystem import FilesystemObjectStore
from storage.hashing import digests_of
from storage.s3_plan import S3Config
from storage.schema import blobs as blob_rows
from storage.store import Storage
from storage.verify import Scrubber, hash_file

REPO = "scrub/one"
OTHER = "scrub/two"
M = 1024 * 1024
CONFIG = b'{"architecture": "amd64", "os": "linux"}'


@pytest.fixture(params=["filesystem", "s3", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Blobs on the filesystem or S3; metadata in SQLite, or PostgreSQL (with files)."""
    s3: S3Config | None = None
    metadata_url: str | None = None
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_config")
    if request.param == "postgresql":
        metadata_url = request.getfixturevalue("postgres").create_database("verify")
    opened = await Storage.open(tmp_path / "data", metadata_url, s3)
    yield opened
    try:
        await opened.objects.delete("blobs")
        await opened.objects.delete("quarantine")
    finally:
        await opened.close()


async def push(storage: Storage, data: bytes, repository: str = REPO) -> dict[str, Digest]:
    """A blob pushed whole, as the upload path does it."""

    async def body() -> AsyncIterator[bytes]:
        yield data

    digest = digests_of(data)["sha256"]
    await storage.uploads.push(repository, digest, body(), "tester")
    return digests_of(data)


async def corrupt(storage: Storage, digests: dict[str, Digest]) -> None:
    """Flip one byte of a filesystem blob in place; overwrite an S3 object."""
    key = layout.blob_key(digests["blake3"].hex)
    if isinstance(storage.objects, FilesystemObjectStore):
        path = storage.objects.path(key)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        await storage.objects.put_bytes(key, b"overwritten by something else")


async def read_whole(storage: Storage, repository: str, digest: Digest) -> bytes:
    blob = await storage.blobs.resolve(repository, digest)
    return await storage.blobs.read_bytes(blob)


async def test_an_intact_store_is_reported_so_and_marked_verified(storage: Storage) -> None:
    sizes = [0, 1, 3 * M + 7, 20 * M + 1]  # the last hashed with BLAKE3's threads
    for size in sizes:
        await push(storage, os.urandom(size))
    async with storage.db.write() as conn:  # as if never verified since the push
        await conn.execute(blob_rows.update().values(verified=None))
    report = await Scrubber(storage.blobs, workers=2).run()
    assert report.intact, report.as_json()
    assert (report.checked, report.bytes) == (len(sizes), sum(sizes))
    async with storage.db.read() as conn:
        unverified = await conn.execute(blob_rows.select().where(blob_rows.c.verified.is_(None)))
        assert unverified.all() == []
    assert json.loads(json.dumps(report.as_json()))["checked"] == len(sizes)


async def test_corrupt_blob_is_found_quarantined_and_healed_by_a_push(storage: Storage) -> None:
    good = await push(storage, os.urandom(M))
    bad_data = os.urandom(2 * M + 3)
    bad = await push(storage, bad_data)
    await corrupt(storage, bad)

    report = await Scrubber(storage.blobs).run()
    assert report.corrupt == [str(bad["sha256"])]
    assert (report.missing, report.orphans, report.checked) == ([], [], 2)
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve(REPO, bad["sha256"])
    quarantined = layout.quarantine_key(bad["blake3"].hex)
    assert await storage.objects.stat(quarantined) is not None  # kept for inspection
    assert await storage.objects.stat(layout.blob_key(bad["blake3"].hex)) is None
    assert await read_whole(storage, REPO, good["sha256"])  # the other blob is still served

    again = await Scrubber(storage.blobs).run()  # quarantined: reported, not re-checked
    assert again.quarantined == [str(bad["sha256"])] and again.corrupt == []

    await push(storage, bad_data, OTHER)  # the same content, through any repository
    assert await read_whole(storage, REPO, bad["sha256"]) == bad_data
    assert (await Scrubber(storage.blobs).run()).intact
    await storage.objects.delete(quarantined)


async def test_missing_objects_and_orphans_are_reported_and_orphans_left(storage: Storage) -> None:
    gone = await push(storage, b"about to vanish")
    kept = await push(storage, b"still here")
    await storage.objects.delete(layout.blob_key(gone["blake3"].hex))
    orphan = layout.blob_key("ab" * 32)
    await storage.objects.put_bytes(orphan, b"no row knows me")
    stray = "blobs/blake3/zz/not-a-blob"
    await storage.objects.put_bytes(stray, b"dropped in by hand")

    report = await Scrubber(storage.blobs).run()
    assert report.missing == [str(gone["sha256"])]
    assert report.orphans == sorted([orphan, stray])
    assert report.corrupt == [] and not report.intact
    assert await storage.objects.stat(orphan) is not None  # left for gc
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve(REPO, gone["sha256"])
    assert await read_whole(storage, REPO, kept["sha256"]) == b"still here"


async def test_a_blob_gc_is_sweeping_is_neither_checked_nor_set_aside(storage: Storage) -> None:
    """gc deletes the bytes of a row marked sweeping, then the row: a scan between the two
    would report the blob missing and quarantine keeps what it sets aside forever."""
    swept = await push(storage, b"being swept")
    key = swept["blake3"].hex
    async with storage.db.write() as conn:
        await conn.execute(
            update(blob_rows).where(blob_rows.c.key == key).values(sweeping=datetime.now(UTC))
        )
    await storage.objects.delete(layout.blob_key(key))  # gc's first step
    report = await Scrubber(storage.blobs).run()
    assert report.missing == [] and report.corrupt == []
    await storage.objects.put_bytes(layout.blob_key(key), b"being swept")  # not yet deleted
    assert not await storage.blobs.quarantine(key, "corrupt", "tester")
    assert await storage.objects.stat(layout.blob_key(key)) is not None
    assert [k async for k in storage.objects.list("quarantine")] == []


async def test_files_being_written_and_other_trees_are_not_orphans(storage: Storage) -> None:
    await push(storage, b"content")
    await storage.objects.put_bytes("uploads/some-session/data", b"in progress")
    await storage.objects.put_bytes(layout.quarantine_key("cd" * 32), b"set aside earlier")
    if isinstance(storage.objects, FilesystemObjectStore):
        temp = storage.objects.path(layout.blob_key("ef" * 32)).with_name(".temp.1234")
        temp.parent.mkdir(parents=True)
        temp.write_bytes(b"a publish under way")
    assert (await Scrubber(storage.blobs).run()).intact
    await storage.objects.delete("uploads")


async def test_one_repository_is_scanned_alone(storage: Storage) -> None:
    mine = await push(storage, b"mine")
    theirs = await push(storage, b"theirs", OTHER)
    await corrupt(storage, theirs)
    report = await Scrubber(storage.blobs).run(REPO)
    assert report.intact and report.checked == 1
    report = await Scrubber(storage.blobs).run(OTHER)
    assert report.corrupt == [str(theirs["sha256"])]
    assert await read_whole(storage, REPO, mine["sha256"]) == b"mine"


async def test_a_verified_read_never_completes_with_wrong_bytes(storage: Storage) -> None:
    storage.blobs.verify_reads = True
    data = os.urandom(5 * M + 1)  # several chunks
    digests = await push(storage, data)
    assert await read_whole(storage, REPO, digests["sha256"]) == data
    blob = await storage.blobs.resolve(REPO, digests["sha256"])
    await corrupt(storage, digests)
    received = b""
    with pytest.raises(BlobCorrupt):
        content = await storage.blobs.open(blob)
        assert isinstance(content, BlobStream)
        async for chunk in content.chunks:
            received += chunk
    assert len(received) < len(data)
    with pytest.raises(BlobUnknown):
        await storage.blobs.resolve(REPO, digests["sha256"])


async def test_manifests_needing_a_quarantined_blob_are_absent(storage: Storage) -> None:
    config = await push(storage, CONFIG)
    layer = await push(storage, b"layer bytes")
    other = await push(storage, b"other layer")
    manifest = manifest_of(config, layer)
    unaffected = manifest_of(config, other, "other")
    stored = await storage.manifests.put(REPO, "v1", manifest, None, ["v1"], "tester")
    await storage.manifests.put(REPO, "v0", unaffected, None, ["v0"], "tester")
    await storage.blobs.quarantine(layer["blake3"].hex, "corrupt", "tester")
    for reference in ("v1", stored.digest):  # it needs the layer: as if never pushed
        with pytest.raises(ManifestUnknown):
            await storage.manifests.stat(REPO, reference)
    assert (await storage.manifests.get(REPO, "v0"))[1] == unaffected
    with pytest.raises(ManifestBlobUnknown):  # a push needing it, as if it were absent
        await storage.manifests.put(REPO, "v2", manifest_of(config, layer, "v2"), None, [], "t")

    await push(storage, b"layer bytes")  # healed: what needs it is back
    assert (await storage.manifests.get(REPO, "v1"))[1] == manifest
    await storage.blobs.quarantine(stored.key, "corrupt", "tester")  # the manifest's own bytes
    for reference in ("v1", stored.digest):
        with pytest.raises(ManifestUnknown):
            await storage.manifests.stat(REPO, reference)
    await storage.manifests.put(REPO, "v1", manifest, None, ["v1"], "tester")  # heals it
    assert (await storage.manifests.get(REPO, "v1"))[1] == manifest
    assert (await storage.manifests.get(REPO, "v0"))[1] == unaffected
    await storage.objects.delete("quarantine")


def manifest_of(config: dict[str, Digest], layer: dict[str, Digest], note: str = "") -> bytes:
    def descriptor(media_type: str, digest: Digest, size: int) -> dict[str, object]:
        return {"mediaType": media_type, "digest": str(digest), "size": size}

    body = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config["sha256"], 40),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer["sha256"], 1)],
        "annotations": {"note": note} if note else None,
    }
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def test_hash_file_matches_blake3_of_the_bytes(tmp_path: Path) -> None:
    for size in (0, 5, 17 * M):
        data = os.urandom(size)
        path = tmp_path / f"f{size}"
        path.write_bytes(data)
        assert hash_file(str(path)) == (digests_of(data)["blake3"].hex, size)
    with pytest.raises(FileNotFoundError):
        hash_file(str(tmp_path / "gone"))
