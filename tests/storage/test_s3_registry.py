"""artifact-store processes on S3 (a real SeaweedFS): pushes, pulls, dedupe, replicas, redirects,
and the S3 server going away."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import blake3
import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.storage.s3server import S3Server, registry_env, weed_binary

M = 1024 * 1024
TIMEOUT = 60  # the registry retries S3 a few times before it answers 503


class Deployment:
    """Registry processes sharing one metadata database (in data_dir) and one S3 prefix."""

    def __init__(self, s3: S3Server, bucket: str, data_dir: Path, **extra: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"registry-{uuid.uuid4().hex[:8]}"
        self.data_dir = data_dir
        self.extra = extra
        self.replicas: list[LiveServer] = []

    def start_replica(self) -> LiveServer:
        env = registry_env(self.s3, self.bucket, self.prefix, **self.extra)
        self.replicas.append(start_server(self.data_dir, env=env))
        return self.replicas[-1]

    def stop(self) -> None:
        for replica in self.replicas:
            stop_server(replica)

    def keys(self, under: str) -> list[str]:
        found = self.s3.keys(self.bucket, f"{self.prefix}/{under}")
        return [key.removeprefix(f"{self.prefix}/") for key in found]


@pytest.fixture(scope="module")
def deployment(
    s3_server: S3Server, s3_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    setup = Deployment(s3_server, s3_bucket, tmp_path_factory.mktemp("s3-registry") / "data")
    setup.start_replica()
    setup.start_replica()
    yield setup
    setup.stop()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_key(data: bytes) -> str:
    hexdigest = blake3.blake3(data).hexdigest()
    return f"blobs/blake3/{hexdigest[:2]}/{hexdigest}"


def push(url: str, repo: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/v2/{repo}/blobs/uploads/?digest={sha256(data)}", content=data, timeout=TIMEOUT
    )


def push_chunks(urls: list[str], repo: str, chunks: list[bytes]) -> httpx.Response:
    """A chunked upload whose requests go round the given replicas."""
    location = httpx.post(f"{urls[0]}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT).headers[
        "Location"
    ]
    offset = 0
    for n, chunk in enumerate(chunks):
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
        response = httpx.patch(
            f"{urls[n % len(urls)]}{location}", content=chunk, headers=headers, timeout=TIMEOUT
        )
        assert response.status_code == 202, response.text
        offset += len(chunk)
    digest = sha256(b"".join(chunks))
    return httpx.put(f"{urls[len(chunks) % len(urls)]}{location}?digest={digest}", timeout=TIMEOUT)


def pull(url: str, repo: str, data: bytes, **headers: str) -> httpx.Response:
    return httpx.get(f"{url}/v2/{repo}/blobs/{sha256(data)}", headers=headers, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "size", [pytest.param(1000, id="small"), pytest.param(12 * M + 7, id="multipart")]
)
def test_monolithic_push_and_pull(deployment: Deployment, size: int) -> None:
    data = os.urandom(size)
    url = deployment.replicas[0].url
    assert push(url, "mono/repo", data).status_code == 201
    assert pull(url, "mono/repo", data).content == data
    assert blob_key(data) in deployment.keys("blobs/")
    assert deployment.keys("uploads/") == []


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([64 * 1024] * 12 + [1000], id="small-chunks"),
        pytest.param([6 * M, 100 * 1024, 6 * M, 10], id="large-and-small-chunks"),
        pytest.param([7 * M], id="one-chunk"),
    ],
)
def test_chunked_push_on_two_replicas_and_range_pull(
    deployment: Deployment, sizes: list[int]
) -> None:
    chunks = [os.urandom(size) for size in sizes]
    data = b"".join(chunks)
    urls = [replica.url for replica in deployment.replicas]
    response = push_chunks(urls, "chunked/repo", chunks)
    assert response.status_code == 201, response.text
    assert pull(urls[1], "chunked/repo", data).content == data
    ranged = pull(urls[0], "chunked/repo", data, Range="bytes=100-5242979")
    assert (ranged.status_code, ranged.content) == (206, data[100:5242980])
    assert blob_key(data) in deployment.keys("blobs/")
    assert deployment.keys("uploads/") == []


def test_one_object_for_a_blob_pushed_to_many_repositories(deployment: Deployment) -> None:
    data = os.urandom(6 * M)
    url = deployment.replicas[0].url
    before = set(deployment.keys("blobs/"))
    assert push(url, "dedupe/a", data).status_code == 201
    assert push_chunks([url], "dedupe/b", [data[: 3 * M], data[3 * M :]]).status_code == 201
    assert push(deployment.replicas[1].url, "dedupe/c", data).status_code == 201
    assert set(deployment.keys("blobs/")) - before == {blob_key(data)}
    assert all(pull(url, f"dedupe/{r}", data).content == data for r in "abc")
    assert pull(url, "dedupe/other", data).status_code == 404


def test_bad_digest_leaves_nothing(deployment: Deployment) -> None:
    data = os.urandom(6 * M)
    url = deployment.replicas[0].url
    wrong = sha256(b"something else")
    response = httpx.post(
        f"{url}/v2/bad/repo/blobs/uploads/?digest={wrong}", content=data, timeout=TIMEOUT
    )
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert blob_key(data) not in deployment.keys("blobs/")
    assert deployment.keys("uploads/") == []


@pytest.fixture
def redirecting(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> Iterator[tuple[Deployment, LiveServer]]:
    setup = Deployment(s3_server, s3_bucket, tmp_path / "data", s3_redirect="true")
    replica = setup.start_replica()
    yield setup, replica
    setup.stop()


def test_redirect_mode_sends_clients_to_s3(redirecting: tuple[Deployment, LiveServer]) -> None:
    _, replica = redirecting
    data = os.urandom(300_000)
    assert push(replica.url, "redirect/repo", data).status_code == 201
    response = pull(replica.url, "redirect/repo", data)
    assert response.status_code == 307
    location = response.headers["Location"]
    assert location.startswith(redirecting[0].s3.endpoint)
    assert httpx.get(location, timeout=TIMEOUT).content == data
    followed = httpx.get(
        f"{replica.url}/v2/redirect/repo/blobs/{sha256(data)}",
        headers={"Range": "bytes=5-14"},
        follow_redirects=True,
        timeout=TIMEOUT,
    )
    assert (followed.status_code, followed.content) == (206, data[5:15])
    head = httpx.head(f"{replica.url}/v2/redirect/repo/blobs/{sha256(data)}", timeout=TIMEOUT)
    assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(data)))
    assert pull(replica.url, "redirect/elsewhere", data).status_code == 404


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(tmp_path / "seaweedfs", weed_binary())
    server.start()
    yield server
    server.stop()


def stopping_midway(data: bytes, s3: S3Server) -> Iterator[bytes]:
    """The bytes in 1 MiB chunks; S3 stops once a multipart upload of them is under way."""
    for n, start in enumerate(range(0, len(data), M)):
        if n == 7:
            s3.stop()
        yield data[start : start + M]


def test_s3_outage_is_503_and_leaves_no_partial_blob(own_s3: S3Server, tmp_path: Path) -> None:
    bucket = own_s3.new_bucket()
    setup = Deployment(own_s3, bucket, tmp_path / "data")
    url = setup.start_replica().url
    try:
        kept = os.urandom(2000)
        assert push(url, "outage/repo", kept).status_code == 201
        cut = os.urandom(12 * M)
        response = httpx.post(
            f"{url}/v2/outage/repo/blobs/uploads/?digest={sha256(cut)}",
            content=stopping_midway(cut, own_s3),
            timeout=TIMEOUT,
        )
        assert response.status_code == 503
        small, large = os.urandom(3000), os.urandom(12 * M)
        for data in (small, large):
            response = push(url, "outage/repo", data)
            assert response.status_code == 503
            assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
        location = httpx.post(f"{url}/v2/outage/repo/blobs/uploads/", timeout=TIMEOUT).headers[
            "Location"
        ]
        assert httpx.patch(f"{url}{location}", content=small, timeout=TIMEOUT).status_code == 503
        assert pull(url, "outage/repo", kept).status_code == 503
        own_s3.start()
        for data in (small, large):
            assert (
                httpx.head(
                    f"{url}/v2/outage/repo/blobs/{sha256(data)}", timeout=TIMEOUT
                ).status_code
                == 404
            )
        assert setup.keys("") == [blob_key(kept)]
        assert pull(url, "outage/repo", kept).content == kept
        assert push(url, "outage/repo", large).status_code == 201
    finally:
        setup.stop()
