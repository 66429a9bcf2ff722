"""A push with `Connection: close` followed by stray bytes: the client is told what was
stored (201), on every server."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture(scope="module", params=["granian", "hypercorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp(f"close-{request.param}") / "data"
    live = start_server(data, "--workers", "1", "--server", request.param)
    yield live
    stop_server(live)


def test_stray_bytes_after_a_closing_push(server: LiveServer) -> None:
    body = b"pushed with Connection: close"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    head = (
        f"POST /v2/r/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode() + body + b"STRAY BYTES\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert httpx.get(f"{server.url}/v2/r/blobs/{digest}", timeout=30).content == body
