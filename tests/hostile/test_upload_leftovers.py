"""Upload sessions cannot pile up: a cap per repository and one per client (429), and data
a killed request left with no session row is found and removed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.config import Settings
from storage import layout
from storage.store import Storage
from tests.conftest import LiveServer, start_server

from .live import process_tree

CAP = 3


@pytest.fixture
def capped(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, max_upload_sessions=CAP)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_sessions_past_the_cap_get_429(capped: TestClient) -> None:
    opened = [capped.post("/v2/r/blobs/uploads/") for _ in range(CAP)]
    assert [response.status_code for response in opened] == [202] * CAP
    refused = capped.post("/v2/r/blobs/uploads/")
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert capped.post("/v2/other/blobs/uploads/").status_code == 202  # per repository
    assert capped.delete(opened[0].headers["Location"]).status_code == 204
    assert capped.post("/v2/r/blobs/uploads/").status_code == 202


def test_sessions_past_the_cap_of_one_client_get_429_in_any_repository(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, max_upload_sessions_per_client=CAP)
    app = create_app(settings)
    with TestClient(app, client=("10.0.0.1", 4000)) as first:
        opened = [first.post(f"/v2/r{n}/blobs/uploads/") for n in range(CAP)]
        assert [response.status_code for response in opened] == [202] * CAP
        refused = first.post("/v2/elsewhere/blobs/uploads/")
        assert refused.status_code == 429
        error = refused.json()["errors"][0]
        assert error["code"] == "TOOMANYREQUESTS"
        assert error["detail"]["max_upload_sessions_per_client"] == CAP
        second = TestClient(app, client=("10.0.0.2", 4000))  # the same server, another client
        assert second.post("/v2/elsewhere/blobs/uploads/").status_code == 202
        assert first.delete(opened[0].headers["Location"]).status_code == 204
        assert first.post("/v2/elsewhere/blobs/uploads/").status_code == 202
        # a whole push in one POST opens no session, so it is never refused by the cap
        data = b"monolithic"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        pushed = first.post(f"/v2/r0/blobs/uploads/?digest={digest}", content=data)
        assert pushed.status_code == 201


def killed_mid_push(server: LiveServer) -> None:
    """A monolithic push whose server is killed (SIGKILL) while the body arrives."""
    assert server.process is not None and server.data_dir is not None
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"POST /v2/r/blobs/uploads/?digest=sha256:{'0' * 64} HTTP/1.1\r\n"
            f"Host: {server.host}\r\nContent-Length: {8 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode() + os.urandom(4 * 1024 * 1024))
        uploads = server.data_dir / "objects" / "uploads"
        deadline = time.monotonic() + 60
        while not any(p.is_file() for p in uploads.rglob("*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in reversed(process_tree(server.process.pid)):
            os.kill(pid, signal.SIGKILL)
        server.process.wait()


def test_data_of_a_killed_push_is_removed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    killed_mid_push(start_server(data_dir, "--workers", "1"))
    assert asyncio.run(sweep(data_dir)) == []


async def sweep(data_dir: Path) -> list[str]:
    storage = await Storage.open(data_dir)
    try:
        session = await storage.uploads.start("r")
        await storage.uploads.append("r", session.id, _chunks(b"kept"))
        first = await storage.uploads.strays()
        assert len(first) == 1 and session.id not in first
        assert await storage.uploads.remove_strays(set()) == first  # seen once: kept
        assert await storage.uploads.remove_strays(first) == set()  # seen twice: removed
        assert await storage.objects.stat(layout.upload_key(session.id)) == 4
        return [key async for key in storage.objects.list("uploads") if session.id not in key]
    finally:
        await storage.close()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data
