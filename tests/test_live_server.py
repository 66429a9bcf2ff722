"""A real artifact-store process on a port: HTTP/1.1, h2c, signals, the oras client, big pushes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import oras.client
import pytest

from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "data")
    yield server
    stop_server(server)


def push(url: str, repo: str, data: bytes, client: httpx.Client | None = None) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = (client or httpx).post(
        f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", content=data
    )
    assert response.status_code == 201, response.text
    return digest


def test_http2_cleartext(live_server: LiveServer) -> None:
    with httpx.Client(http1=False, http2=True) as client:
        digest = push(live_server.url, "h2/repo", b"over h2c", client)
        response = client.get(f"{live_server.url}/v2/h2/repo/blobs/{digest}")
    assert (response.http_version, response.content) == ("HTTP/2", b"over h2c")


def test_oras_python_round_trip(live_server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "artifact.txt"
    source.write_bytes(os.urandom(300_000))
    client = oras.client.OrasClient(hostname=live_server.host, insecure=True)
    target = f"{live_server.host}/oras/python:v1"
    os.chdir(tmp_path)
    response = client.push(target=target, files=["artifact.txt"])
    assert response.status_code == 201
    out = tmp_path / "out"
    pulled = client.pull(target=target, outdir=str(out))
    assert [Path(p).read_bytes() for p in pulled] == [source.read_bytes()]
    chunked = client.push(
        target=f"{live_server.host}/oras/python:chunked",
        files=["artifact.txt"],
        do_chunked=True,
        chunk_size=65536,
    )
    assert chunked.status_code == 201
    assert client.get_tags(f"{live_server.host}/oras/python") == ["chunked", "v1"]


def test_client_disconnect_mid_body_leaves_nothing(live_server: LiveServer) -> None:
    digest = "sha256:" + hashlib.sha256(b"never sent whole").hexdigest()
    host, port = live_server.host.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST /v2/cut/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 1000000\r\n\r\n".encode()
            + b"partial"
        )
    location = httpx.post(f"{live_server.url}/v2/cut/blobs/uploads/").headers["Location"]
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode()
            + b"x" * 5000
        )
    assert httpx.head(f"{live_server.url}/v2/cut/blobs/{digest}").status_code == 404
    status = httpx.get(f"{live_server.url}{location}")
    assert (status.status_code, status.headers["Range"]) == (204, "0-0")
    assert httpx.get(f"{live_server.url}/v2/").status_code == 200


def test_concurrent_pushes_of_one_blob(live_server: LiveServer) -> None:
    data = os.urandom(3_000_000)
    statuses: list[int] = []

    def chunked_push() -> None:
        with httpx.Client(base_url=live_server.url) as client:
            location = client.post("/v2/race/blobs/uploads/").headers["Location"]
            for start in range(0, len(data), 1_000_000):
                client.patch(location, content=data[start : start + 1_000_000])
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            statuses.append(client.put(f"{location}?digest={digest}").status_code)

    threads = [threading.Thread(target=chunked_push) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [201] * 6
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.get(f"{live_server.url}/v2/race/blobs/{digest}").content == data


def test_sigterm_shuts_down_gracefully(own_server: LiveServer) -> None:
    assert own_server.process is not None
    own_server.process.send_signal(signal.SIGTERM)
    assert own_server.process.wait(timeout=20) == 0


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_one_gib_push_keeps_memory_low(own_server: LiveServer) -> None:
    block = os.urandom(1024 * 1024)
    hasher = hashlib.sha256()
    for _ in range(1024):
        hasher.update(block)
    digest = "sha256:" + hasher.hexdigest()

    def body() -> Iterator[bytes]:
        for _ in range(1024):
            yield block

    assert own_server.process is not None
    url = f"{own_server.url}/v2/big/blobs/uploads/?digest={digest}"
    headers = {"Content-Length": str(1024**3)}
    response = httpx.post(url, content=body(), headers=headers, timeout=300)
    assert response.status_code == 201, response.text
    head = httpx.head(f"{own_server.url}/v2/big/blobs/{digest}")
    assert head.headers["Content-Length"] == str(1024**3)
    assert peak_rss_mib(own_server.process.pid) < 200


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        pytest.param("PATCH", "{upload}", {"Content-Range": "100-"}, id="chunk-out-of-order"),
        pytest.param("POST", "/v2/keep/blobs/uploads/?digest=sha256:00", {}, id="bad-digest-param"),
        pytest.param(
            "PUT", "/v2/keep/manifests/v1", {"Content-Type": "text/plain"}, id="not-a-manifest"
        ),
        pytest.param("PUT", "/v2/keep/tags/list", {}, id="wrong-method"),
    ],
)
@pytest.mark.parametrize("size", [1000, 4 * 1024 * 1024], ids=["small-body", "large-body"])
def test_error_before_the_body_keeps_the_connection_usable(
    live_server: LiveServer, method: str, path: str, headers: dict[str, str], size: int
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=20) as client:
        upload = client.post("/v2/keep/blobs/uploads/").headers["Location"]
        body = b"x" * size
        headers = {k: v if k != "Content-Range" else f"100-{99 + size}" for k, v in headers.items()}
        response = client.request(method, path.format(upload=upload), content=body, headers=headers)
        assert 400 <= response.status_code < 500
        assert response.json()["errors"]
        assert client.get("/v2/").status_code == 200
