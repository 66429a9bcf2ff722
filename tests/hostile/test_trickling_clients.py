"""Clients that trickle a request body, and more requests than a process serves at a time:
each is answered (408, 503) and its connection closed, never held for ever."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server

BODY_TIMEOUT = "1s"
MAX_REQUESTS = 4


@pytest.fixture(scope="module", params=["granian", "hypercorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp(f"trickle-{request.param}") / "data"
    env = {
        "ARTIFACT_STORE_BODY_TIMEOUT": BODY_TIMEOUT,
        "ARTIFACT_STORE_MAX_REQUESTS": str(MAX_REQUESTS),
    }
    live = start_server(data, "--workers", "1", "--server", request.param, env=env)
    yield live
    stop_server(live)


def stalled_push(server: LiveServer, sent: bytes = b"x" * 10) -> socket.socket:
    """A monolithic push that announces 1 MiB and sends `sent`, then nothing."""
    host, port = server.host.split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(60)  # a bound on the test, far past the server's body timeout
    digest = "sha256:" + "0" * 64
    head = (
        f"POST /v2/r/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Content-Length: {1024 * 1024}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_stalled_body_gets_408_and_a_close(server: LiveServer) -> None:
    with stalled_push(server) as sock:
        response = answer(sock)
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert b"BLOB_UPLOAD_INVALID" in response


def test_requests_past_the_cap_are_refused(server: LiveServer) -> None:
    held = [stalled_push(server) for _ in range(MAX_REQUESTS)]
    try:
        refused = httpx.get(f"{server.url}/v2/", timeout=30)
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert refused.headers["Retry-After"] == "1"
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200
    finally:
        for sock in held:
            sock.close()
