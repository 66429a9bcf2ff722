"""`python -m bench.ui`: how long the web UI's pages take on a large store.

The store: 10,000 repositories (written as metadata rows in bulk: the pages read
only metadata for them) and one repository of 1,000 tags pushed through the storage
services (manifests, 100 two-platform indexes, a signature and an SBOM on each
index). A real server (one worker, the embedded SQLite) answers; each page is asked
for ROUNDS times after a warm-up, one request at a time, and the table shows the
median and p95 of the whole request as the client sees it, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.servers import ARTIFACT_STORE, Peer, start
from storage.hashing import digests_of
from storage.schema import blobs, digest_aliases, manifests, repositories, repository_blobs, tags
from storage.store import Storage

REPOSITORIES = 10_000
TAGS = 1_000
INDEXES = 100
ROUNDS = 50
BIG = "big/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"


async def push_blob(store: Storage, repository: str, data: bytes) -> dict[str, object]:
    digest = digests_of(data, [])["sha256"]

    async def body() -> AsyncIterator[bytes]:
        yield data

    await store.uploads.push(repository, digest, body(), "bench")
    return {"mediaType": CONFIG, "digest": str(digest), "size": len(data)}


async def put(store: Storage, repository: str, document: dict[str, object], tag: str) -> str:
    body = json.dumps(document).encode()
    media_type = str(document["mediaType"])
    stored = await store.manifests.put(repository, tag, body, media_type, [tag], "bench")
    return stored.digest


def image(config: dict[str, object], layer: dict[str, object], note: str) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": [layer],
        "annotations": {"note": note},
    }


async def seed_big(store: Storage) -> None:
    config = await push_blob(store, BIG, b'{"architecture":"amd64","os":"linux"}')
    layer = {**(await push_blob(store, BIG, b"layer" * 1000)), "mediaType": "application/x-tar"}
    for number in range(TAGS - INDEXES):
        await put(store, BIG, image(config, layer, f"tag {number}"), f"v{number:04d}")
    for number in range(INDEXES):
        await seed_index(store, config, layer, number)


async def seed_index(
    store: Storage, config: dict[str, object], layer: dict[str, object], number: int
) -> None:
    children = []
    for arch in ("amd64", "arm64"):
        document = image(config, layer, f"index {number} {arch}")
        digest = await put(store, BIG, document, f"i{number:03d}-{arch}")
        size = len(json.dumps(document).encode())
        platform = {"os": "linux", "architecture": arch}
        children.append(
            {"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": platform}
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    digest = await put(store, BIG, index, f"multi{number:03d}")
    subject = {"mediaType": OCI_INDEX, "digest": digest, "size": len(json.dumps(index).encode())}
    for kind in ("application/vnd.dev.cosign.artifact.sig.v1+json", "application/spdx+json"):
        referrer = {**image(config, layer, kind), "artifactType": kind, "subject": subject}
        body = json.dumps(referrer).encode()
        reference = str(digests_of(body, [])["sha256"])
        await store.manifests.put(BIG, reference, body, OCI_MANIFEST, [], "bench")


async def seed_many(store: Storage) -> None:
    """REPOSITORIES repositories of one tag each, every one linking the same blob."""
    now = datetime.now(UTC)
    key = "b" * 64
    async with store.db.write() as conn:
        await conn.execute(blobs.insert(), [{"key": key, "size": 4096, "created": now}])
        alias = {"algorithm": "sha256", "hex": "c" * 64, "blob_key": key}
        await conn.execute(digest_aliases.insert(), [alias])
        names = [
            {"name": f"team{n % 100:02d}/repo{n:05d}", "created": now} for n in range(REPOSITORIES)
        ]
        await conn.execute(repositories.insert(), names)
        rows = (await conn.execute(repositories.select().where(repositories.c.name != BIG))).all()
        ids = [row.id for row in rows]
        await conn.execute(
            repository_blobs.insert(),
            [{"repository_id": i, "blob_key": key, "created": now} for i in ids],
        )
        await conn.execute(manifests.insert(), [_manifest_row(i, key, now) for i in ids])
        await conn.execute(
            tags.insert(),
            [
                {"repository_id": i, "name": "latest", "manifest_key": key, "updated": now}
                for i in ids
            ],
        )


def _manifest_row(repo_id: int, key: str, now: datetime) -> dict[str, object]:
    return {
        "repository_id": repo_id,
        "blob_key": key,
        "digest": "sha256:" + "c" * 64,
        "media_type": OCI_MANIFEST,
        "size": 4096,
        "created": now,
    }


async def seed(data_dir: Path) -> None:
    store = await Storage.open(data_dir)
    try:
        await seed_big(store)
        await seed_many(store)
    finally:
        await store.close()


def pages(client: httpx.Client) -> dict[str, str]:
    index = client.get(f"/v2/{BIG}/manifests/multi050", headers={"Accept": OCI_INDEX})
    digest = index.headers["Docker-Content-Digest"]
    return {
        "repositories, first page": "/ui/",
        "repositories, page after team50/repo05000": "/ui/?after=team50/repo05000",
        "repositories, filtered (repo09)": "/ui/?q=repo09",
        f"repository of {TAGS} tags, first page": f"/ui/repositories/{BIG}",
        f"repository of {TAGS} tags, indexes page": f"/ui/repositories/{BIG}?after=i099-arm64",
        "manifest (image, by tag)": f"/ui/repositories/{BIG}/-/manifests/v0500",
        "manifest (index + 2 referrers)": f"/ui/repositories/{BIG}/-/manifests/{digest}",
        "store": "/ui/store",
    }


def measure(client: httpx.Client, path: str, rounds: int) -> tuple[float, float]:
    for _ in range(3):
        assert client.get(path).status_code == 200, path
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def serving(data_dir: Path) -> Peer:
    """One worker over the seeded data directory, warnings only (no access log)."""

    def argv(binary: str, addr: str, _unused: Path) -> list[str]:
        serve = [binary, "serve", "--addr", addr, "--data-dir", str(data_dir)]
        return [*serve, "--workers", "1", "--log-level", "warning"]

    return Peer("artifact-store-ui", ARTIFACT_STORE, argv, ())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        data_dir = Path(work) / "data"
        started = time.perf_counter()
        asyncio.run(seed(data_dir))
        print(f"seeded in {time.perf_counter() - started:.0f} s")
        server = start(serving(data_dir), ARTIFACT_STORE, Path(work))
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                print("| page | median ms | p95 ms |\n|---|---:|---:|")
                for name, path in pages(client).items():
                    median, p95 = measure(client, path, args.rounds)
                    print(f"| {name} | {median:.1f} | {p95:.1f} |")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
