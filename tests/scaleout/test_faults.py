"""Faults in a scaled-out registry: a replica dies mid-upload, PostgreSQL goes away and
comes back, the S3 server goes away. Each request gets an answer (a 503 with the OCI
error body while a backend is down), nothing half-written becomes visible, and
service resumes without restarting anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.scaleout.cluster import Cluster
from tests.scaleout.conftest import ClusterFactory
from tests.scaleout.postgres import PostgresServer
from tests.scaleout.test_replicas import image_manifest, put_manifest, sha256
from tests.storage.s3server import S3Server

# Far above the registry's own limits (5 s to reach the database): a request that
# took this long would have hung, not failed fast.
PATIENCE = 30
RECOVERY = 30


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"


def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + RECOVERY
    while httpx.get(f"{url}/readyz", timeout=PATIENCE).status_code != 200:
        assert time.monotonic() < deadline, f"{url} not ready {RECOVERY}s after the outage"
        time.sleep(0.2)


def test_replica_killed_mid_upload_the_retry_through_the_other_completes(
    make_cluster: ClusterFactory,
) -> None:
    cluster = make_cluster()
    doomed, survivor = cluster.replicas
    data = os.urandom(6 * 1024 * 1024)
    head, tail = data[: 2 * 1024 * 1024], data[2 * 1024 * 1024 :]
    with cluster.client() as client:
        location = client.post("/v2/faults/killed/blobs/uploads/").headers["Location"]
        assert client.patch(location, content=head).status_code == 202

        def body_until_the_replica_dies() -> Iterator[bytes]:
            yield tail[: 1024 * 1024]
            doomed.kill()
            yield tail[1024 * 1024 :]

        with pytest.raises(httpx.TransportError):
            httpx.patch(f"{doomed.url}{location}", content=body_until_the_replica_dies())

        # The client resumes where the registry says the upload stands.
        status = client.get(location)
        assert (status.status_code, status.headers["Range"]) == (204, f"0-{len(head) - 1}")
        # A small body: answered before it is read, a large one makes the replica close
        # with bytes unread, and nginx may see the reset before the answer (502).
        wrong = client.patch(location, content=tail[:1024], headers={"Content-Range": "0-1023"})
        assert wrong.status_code == 416
        assert wrong.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
        last = f"{len(head)}-{len(data) - 1}"
        resumed = client.patch(location, content=tail, headers={"Content-Range": last})
        assert resumed.status_code == 202, resumed.text
        assert cluster.replica_for(resumed) is survivor
        done = client.put(f"{resumed.headers['Location']}?digest={sha256(data)}")
        assert done.status_code == 201, done.text
        assert client.get(f"/v2/faults/killed/blobs/{sha256(data)}").content == data


def test_postgresql_outage_fails_fast_with_503_and_recovers(
    make_cluster: ClusterFactory, own_postgres: PostgresServer
) -> None:
    cluster = make_cluster(database=own_postgres)
    processes = [replica.process for replica in cluster.replicas]
    with cluster.client(timeout=PATIENCE) as client:
        body = image_manifest(client, "faults/db", b"before the outage")
        put_manifest(client, "faults/db", "v1", body)
        own_postgres.stop()
        try:
            assert_requests_fail_cleanly(cluster, client, "faults/db", body, down="database")
            for _ in cluster.replicas:
                assert_unavailable(client.get("/v2/faults/db/manifests/v1"))
                assert_unavailable(client.get("/v2/faults/db/tags/list"))
        finally:
            own_postgres.start()
        for replica in cluster.replicas:
            wait_until_ready(replica.url)
        for _ in cluster.replicas:  # round-robin: one of each through every replica
            assert client.get("/v2/faults/db/manifests/v1").content == body
            after = image_manifest(client, "faults/db", os.urandom(100))
            put_manifest(client, "faults/db", "v2", after)
    assert [replica.process for replica in cluster.replicas] == processes  # never restarted
    assert all(p is not None and p.poll() is None for p in processes)


def assert_requests_fail_cleanly(
    cluster: Cluster, client: httpx.Client, repo: str, manifest: bytes, down: str
) -> None:
    """Readiness says which backend is down, liveness holds, writes get a clean 503."""
    for replica in cluster.replicas:
        ready = httpx.get(f"{replica.url}/readyz", timeout=PATIENCE)
        assert ready.status_code == 503
        assert ready.json()["checks"][down] != "ok"
        assert httpx.get(f"{replica.url}/healthz", timeout=PATIENCE).status_code == 200
    for _ in cluster.replicas:
        assert_unavailable(client.put(f"/v2/{repo}/manifests/v9", content=manifest))
        data = b"pushed during the outage of the " + down.encode()
        assert_unavailable(
            client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", content=data)
        )


def test_s3_outage_answers_503_and_leaves_no_partial_blob(
    make_cluster: ClusterFactory, own_seaweedfs: S3Server
) -> None:
    cluster = make_cluster(s3=own_seaweedfs)
    data = os.urandom(3 * 1024 * 1024)
    with cluster.client(timeout=PATIENCE) as client:
        body = image_manifest(client, "faults/s3", b"before the outage")
        put_manifest(client, "faults/s3", "v1", body)
        location = client.post("/v2/faults/s3/blobs/uploads/").headers["Location"]
        own_seaweedfs.stop()
        try:
            assert_requests_fail_cleanly(cluster, client, "faults/s3", body, down="objects")
            assert_unavailable(client.patch(location, content=data))
            assert_unavailable(
                client.post(f"/v2/faults/s3/blobs/uploads/?digest={sha256(data)}", content=data)
            )
        finally:
            own_seaweedfs.start()
        for replica in cluster.replicas:
            wait_until_ready(replica.url)
        assert client.head(f"/v2/faults/s3/blobs/{sha256(data)}").status_code == 404
        status = client.get(location)
        assert (status.status_code, status.headers["Range"]) == (204, "0-0")
        assert client.get("/v2/faults/s3/manifests/v1").content == body
        resumed = client.patch(location, content=data)
        assert resumed.status_code == 202, resumed.text
        done = client.put(f"{resumed.headers['Location']}?digest={sha256(data)}")
        assert done.status_code == 201, done.text
        assert client.get(f"/v2/faults/s3/blobs/{sha256(data)}").content == data
