"""Garbage collection racing pushes across replicas: two pushers, one on each replica,
push images that reuse one layer and delete them again (so that layer keeps becoming
garbage) while `artifact-store gc --grace 0s` runs over and over in a third process on
the same PostgreSQL, with a shared data directory and with S3 (SeaweedFS). A push may
fail cleanly and be pushed again; afterwards every tagged manifest's blobs are all there
and hash right."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry.cli_process import executable
from tests.scaleout.cluster import Replica, replica_env
from tests.scaleout.conftest import object_settings
from tests.scaleout.postgres import PostgresServer
from tests.storage.s3server import S3Server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
SHARED = b"the layer every image reuses " * 1000
ROUNDS = 40
ATTEMPTS = 30  # a push that meets a collection is pushed again, as a client would
RETRYABLE = {"UNAVAILABLE", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Retry(Exception):
    pass


def checked(response: httpx.Response, expected: int) -> None:
    if response.status_code == expected:
        return
    codes = (
        {e.get("code") for e in response.json().get("errors", [])} if response.content else set()
    )
    if response.status_code in (400, 404, 503) and codes & RETRYABLE:
        raise Retry(f"{response.status_code} {codes}")
    raise AssertionError(f"{response.request.method} {response.request.url}: {response.text}")


def push_image(client: httpx.Client, repo: str, tag: str) -> tuple[str, list[str]]:
    """The manifest's digest and its blobs'."""
    config = json.dumps({"tag": tag}).encode()
    own = os.urandom(4096)
    for blob in (SHARED, config, own):
        response = client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", content=blob)
        checked(response, 201)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": LAYER, "digest": sha256(b), "size": len(b)} for b in (SHARED, own)
            ],
        }
    ).encode()
    response = client.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    checked(response, 201)
    return sha256(body), [sha256(blob) for blob in (config, SHARED, own)]


def assert_whole(client: httpx.Client, repo: str, digests: list[str]) -> None:
    """An accepted manifest's blobs: all there, all hashing right (nothing may sweep them)."""
    for digest in digests:
        blob = client.get(f"/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200, f"{repo} lost {digest} under an accepted manifest"
        assert sha256(blob.content) == digest


def pusher(url: str, repo: str, retries: list[int], failures: list[str]) -> None:
    """Push an image, check it, delete it (so the shared layer keeps becoming garbage);
    the last one stays."""
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for round_number in range(ROUNDS):
                manifest, digests = push_with_retries(client, repo, f"t{round_number}", retries)
                assert_whole(client, repo, digests)
                if round_number < ROUNDS - 1:
                    client.delete(f"/v2/{repo}/manifests/{manifest}")
    except BaseException as exc:  # reported by the test
        failures.append(repr(exc))


def push_with_retries(
    client: httpx.Client, repo: str, tag: str, retries: list[int]
) -> tuple[str, list[str]]:
    for _ in range(ATTEMPTS):
        try:
            return push_image(client, repo, tag)
        except Retry:
            retries.append(1)
    raise AssertionError(f"{repo}:{tag} never pushed in {ATTEMPTS} attempts")


def collector(env: dict[str, str], stop: threading.Event, runs: list[int], log: Path) -> None:
    with open(log, "ab") as out:
        while not stop.is_set():
            done = subprocess.run(
                [executable(), "gc", "--grace", "0s", "--json"],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
            runs.append(done.returncode)


def verify(url: str, repos: list[str]) -> int:
    checked_tags = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for repo in repos:
            for tag in client.get(f"/v2/{repo}/tags/list").json().get("tags") or []:
                manifest = client.get(
                    f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
                ).json()
                for descriptor in [manifest["config"], *manifest["layers"]]:
                    blob = client.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
                    assert blob.status_code == 200, f"{repo}:{tag} lost {descriptor['digest']}"
                    assert sha256(blob.content) == descriptor["digest"]
                checked_tags += 1
    return checked_tags


@pytest.fixture(
    params=[
        "filesystem",
        "s3",
    ]
)
def replicas(
    request: pytest.FixtureRequest, postgres: PostgresServer, tmp_path: Path
) -> Iterator[list[Replica]]:
    """Two replicas on one PostgreSQL database and one shared data directory, or one
    bucket; no balancer: each pusher talks to a replica of its own."""
    s3: S3Server | None = None
    if request.param == "s3":
        s3 = request.getfixturevalue("seaweedfs")
        if s3 is None:
            pytest.skip("SeaweedFS is not built")
    env = replica_env(
        postgres.create_database("gcrace"), tmp_path / "shared-data", object_settings(s3)
    )
    members = [Replica(f"replica-{i}", env, tmp_path / f"replica-{i}.log") for i in (1, 2)]
    try:
        for replica in members:
            replica.start()
        yield members
    finally:
        for replica in members:
            replica.stop()


def test_pushes_on_two_replicas_survive_gc_running_over_and_over(
    replicas: list[Replica], tmp_path: Path
) -> None:
    repos = ["race/one", "race/two"]
    retries: list[int] = []
    failures: list[str] = []
    runs: list[int] = []
    stop = threading.Event()
    env = replicas[0].env
    gc_thread = threading.Thread(target=collector, args=(env, stop, runs, tmp_path / "gc.log"))
    pushers = [
        threading.Thread(target=pusher, args=(replica.url, repo, retries, failures))
        for replica, repo in zip(replicas, repos, strict=True)
    ]
    gc_thread.start()
    for thread in pushers:
        thread.start()
    for thread in pushers:
        thread.join()
    stop.set()
    gc_thread.join()

    logs = "\n".join(r.log.read_text(errors="replace")[-3000:] for r in replicas)
    assert failures == [], f"{failures}\n{logs}"
    assert runs and set(runs) <= {0, 75}, (tmp_path / "gc.log").read_text()[-3000:]
    assert verify(replicas[1].url, repos) >= 2
