"""Stateless replicas: any replica serves any request, whichever one took the write.

Two artifact-store processes share PostgreSQL and the object store behind nginx
round-robin, so consecutive requests of one client alternate between them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import missing_tool
from tests.scaleout.cluster import Cluster

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 1024 * 1024 + 17  # odd sizes: parts never line up with anything by chance


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    response = client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", content=data)
    assert response.status_code == 201, response.text
    return sha256(data)


def image_manifest(client: httpx.Client, repo: str, *layers: bytes, note: str = "") -> bytes:
    """Pushes a config and the layers; returns the manifest (not yet pushed)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "note": note}).encode()
    descriptors = [
        {"mediaType": media, "digest": push_blob(client, repo, data), "size": len(data)}
        for media, data in [
            ("application/vnd.oci.image.config.v1+json", config),
            *(("application/vnd.oci.image.layer.v1.tar", layer) for layer in layers),
        ]
    ]
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptors[0],
        "layers": descriptors[1:],
    }
    return json.dumps(body).encode()


def put_manifest(client: httpx.Client, repo: str, reference: str, body: bytes) -> str:
    response = client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


def chunked_push(
    client: httpx.Client, repo: str, data: bytes, query: str = ""
) -> tuple[httpx.Response, list[str]]:
    """POST, one PATCH per chunk (with Content-Range), PUT; returns the PUT and who served."""
    location = client.post(f"/v2/{repo}/blobs/uploads/{query}").headers["Location"]
    served = []
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        headers = {"Content-Range": f"{start}-{start + len(chunk) - 1}"}
        response = client.patch(location, content=chunk, headers=headers)
        assert response.status_code == 202, response.text
        served.append(response.headers["X-Upstream"])
        location = response.headers["Location"]
    separator = "&" if "?" in location else "?"
    return client.put(f"{location}{separator}digest={sha256(data)}"), served


@pytest.mark.parametrize("query", ["", "?digest-algorithm=sha512"], ids=["sha256", "sha512"])
def test_chunked_push_with_patches_alternating_replicas(cluster: Cluster, query: str) -> None:
    data = os.urandom(5 * CHUNK + 1000)
    with cluster.client() as client:
        put, served = chunked_push(client, f"chunked/{len(query)}", data, query)
    assert put.status_code == 201, put.text
    assert all(a != b for a, b in pairwise(served)), served
    for replica in cluster.replicas:
        got = httpx.get(f"{replica.url}/v2/chunked/{len(query)}/blobs/{sha256(data)}", timeout=60)
        assert got.content == data


def test_concurrent_chunked_pushes_through_the_balancer(cluster: Cluster) -> None:
    blobs = [os.urandom(3 * CHUNK + i) for i in range(4)]
    statuses: list[int] = []

    def push(data: bytes) -> None:
        with cluster.client() as client:
            statuses.append(chunked_push(client, "parallel", data)[0].status_code)

    run_threads([partial(push, data) for data in blobs])
    assert statuses == [201] * len(blobs)
    with cluster.client() as client:
        for data in blobs:
            assert client.get(f"/v2/parallel/blobs/{sha256(data)}").content == data


def test_every_replica_serves_what_another_wrote(cluster: Cluster) -> None:
    first, second = cluster.replicas
    with httpx.Client(base_url=first.url, timeout=60) as writer:
        body = image_manifest(writer, "any/replica", b"layer one", note="written on one")
        digest = put_manifest(writer, "any/replica", "v1", body)
    with httpx.Client(base_url=second.url, timeout=60) as reader:
        got = reader.get("/v2/any/replica/manifests/v1")
        assert (got.status_code, got.content) == (200, body)
        assert got.headers["Docker-Content-Digest"] == digest
        assert reader.get(f"/v2/any/replica/blobs/{sha256(b'layer one')}").content == b"layer one"
        assert reader.get("/v2/any/replica/tags/list").json()["tags"] == ["v1"]
        assert "any/replica" in reader.get("/v2/_catalog").json()["repositories"]


def test_a_moved_tag_is_read_at_once_on_the_other_replica(cluster: Cluster) -> None:
    first, second = cluster.replicas
    with (
        httpx.Client(base_url=first.url, timeout=60) as one,
        httpx.Client(base_url=second.url, timeout=60) as two,
    ):
        old = put_manifest(one, "moving", "latest", image_manifest(one, "moving", b"old"))
        assert two.head("/v2/moving/manifests/latest").headers["Docker-Content-Digest"] == old
        body = image_manifest(one, "moving", b"new")
        new = put_manifest(one, "moving", "latest", body)
        got = two.get("/v2/moving/manifests/latest")
    assert new != old
    assert (got.headers["Docker-Content-Digest"], got.content) == (new, body)


@pytest.mark.parametrize("what", ["manifest", "tag", "blob"])
def test_a_delete_on_one_replica_is_seen_by_the_other(cluster: Cluster, what: str) -> None:
    first, second = cluster.replicas
    repo, layer = f"deleting/{what}", b"doomed " + what.encode()
    with (
        httpx.Client(base_url=first.url, timeout=60) as one,
        httpx.Client(base_url=second.url, timeout=60) as two,
    ):
        digest = put_manifest(one, repo, "v1", image_manifest(one, repo, layer))
        target = {
            "manifest": f"/v2/{repo}/manifests/{digest}",
            "tag": f"/v2/{repo}/manifests/v1",
            "blob": f"/v2/{repo}/blobs/{sha256(layer)}",
        }[what]
        assert two.get(target).status_code == 200  # read once on the other replica first
        assert one.delete(target).status_code == 202
        assert two.get(target).status_code == 404
        assert two.head(target).status_code == 404


def test_concurrent_writers_on_both_replicas_keep_the_metadata_consistent(
    cluster: Cluster,
) -> None:
    """The same blobs, manifest and tags pushed at once through both replicas, into
    repositories that do not exist yet: every push succeeds, none deadlocks."""
    layer = os.urandom(200_000)
    with cluster.client() as client:
        body = image_manifest(client, "race/seed", layer, note="race")
    failures: list[str] = []

    def push(replica_url: str, repo: str, tags: list[str]) -> None:
        with httpx.Client(base_url=replica_url, timeout=60) as client:
            assert image_manifest(client, repo, layer, note="race") == body
            query = "&".join(f"tag={t}" for t in tags[1:])
            response = client.put(
                f"/v2/{repo}/manifests/{tags[0]}?{query}",
                content=body,
                headers={"Content-Type": OCI_MANIFEST},
            )
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text}")

    orders = (["a", "b", "c"], ["c", "b", "a"])
    run_threads(
        [
            partial(push, replica.url, f"race/{n}", tags)
            for n in range(4)
            for replica, tags in zip(cluster.replicas, orders, strict=True)
        ]
    )
    assert failures == [], cluster.logs()
    with cluster.client() as client:
        for n in range(4):
            assert client.get(f"/v2/race/{n}/tags/list").json()["tags"] == ["a", "b", "c"]
            assert client.get(f"/v2/race/{n}/manifests/b").content == body


def test_skopeo_copies_in_and_out_through_the_balancer(cluster: Cluster, tmp_path: Path) -> None:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        missing_tool("skopeo is not installed: run `make clients`")
    assert skopeo is not None
    source = write_oci_layout(tmp_path / "source", os.urandom(3 * 1024 * 1024))
    ref = f"docker://{cluster.host}/skopeo/image:v1"
    run([skopeo, "copy", "--dest-tls-verify=false", f"oci:{source}:v1", ref])
    run([skopeo, "copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'out'}:v1"])
    inspected = json.loads(run([skopeo, "inspect", "--raw", f"oci:{tmp_path / 'out'}:v1"]))
    original = json.loads(run([skopeo, "inspect", "--raw", f"oci:{source}:v1"]))
    assert inspected["layers"] == original["layers"]
    for layer in original["layers"]:
        name = layer["digest"].split(":")[1]
        copied = tmp_path / "out" / "blobs" / "sha256" / name
        assert copied.read_bytes() == (source / "blobs" / "sha256" / name).read_bytes()


def write_oci_layout(path: Path, content: bytes) -> Path:
    """A one-layer image in an OCI layout directory, tagged v1; the layer gzipped, so
    clients copy it as it is."""
    layer = gzip.compress(content, compresslevel=1, mtime=0)
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data: bytes, media_type: str) -> dict[str, Any]:
        (blobs / sha256(data).split(":")[1]).write_bytes(data)
        return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

    rootfs = {"type": "layers", "diff_ids": [sha256(content)]}
    config = {"architecture": "amd64", "os": "linux", "rootfs": rootfs}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
        "layers": [blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip")],
    }
    descriptor = blob(json.dumps(manifest).encode(), OCI_MANIFEST)
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return path


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


def run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
