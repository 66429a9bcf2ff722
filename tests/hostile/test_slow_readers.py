"""Slow readers of a large blob hold a small, fixed buffer each, not their blob: the
server's measured RSS grows by far less than the bytes they asked for."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server

from .live import process_tree, rss_bytes

BLOB = os.urandom(16 * 1024 * 1024)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
READERS = 100
# Per reader: before backpressure each held its whole 16 MiB blob; now about 0.1-0.3 MiB.
ALLOWED_PER_READER = 1024 * 1024
SETTLE = 3.0  # seconds for the server to take what it will from the stalled readers


@pytest.fixture(scope="module", params=["granian", "hypercorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp(f"slow-{request.param}") / "data"
    live = start_server(data, "--workers", "1", "--server", request.param)
    response = httpx.post(
        f"{live.url}/v2/r/blobs/uploads/?digest={DIGEST}", content=BLOB, timeout=60
    )
    assert response.status_code == 201, response.text
    yield live
    stop_server(live)


def stalled_reader(server: LiveServer, headers: str) -> socket.socket:
    """A client that asks for the blob and reads nothing (a small receive window)."""
    host, port = server.host.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = f"GET /v2/r/blobs/{DIGEST} HTTP/1.1\r\nHost: {server.host}\r\n{headers}\r\n"
    sock.sendall(request.encode())
    return sock


@pytest.mark.parametrize(
    "headers", [pytest.param("", id="whole"), pytest.param("Range: bytes=1-\r\n", id="ranged")]
)
def test_stalled_readers_hold_little(server: LiveServer, headers: str) -> None:
    assert server.process is not None
    before = rss_bytes(process_tree(server.process.pid))
    readers = [stalled_reader(server, headers) for _ in range(READERS)]
    try:
        time.sleep(SETTLE)
        held = rss_bytes(process_tree(server.process.pid)) - before
    finally:
        for reader in readers:
            reader.close()
    assert held < READERS * ALLOWED_PER_READER, f"{held / READERS / 1024:.0f} KiB per reader"
    assert httpx.get(f"{server.url}/v2/r/blobs/{DIGEST}", timeout=60).content == BLOB
