"""A disk that fills up: pushes answer 507 with an OCI body and leave nothing behind;
pulls of what is stored go on."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, stop_server

from .live import inside, serve_on_tmpfs

BIG = os.urandom(12 * 1024 * 1024)  # three times the disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[LiveServer]:
    server = serve_on_tmpfs(tmp_path / "disk", "4m")
    yield server
    stop_server(server)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def assert_insufficient(response: httpx.Response) -> None:
    assert response.status_code == 507, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "INSUFFICIENT_STORAGE"
    assert "space" in error["detail"]["cause"].lower()


def stray_uploads(server: LiveServer) -> list[Path]:
    assert server.data_dir is not None
    root = inside(server, server.data_dir)
    return [p for p in root.rglob("*") if p.is_file() and "upload" in str(p.relative_to(root))]


def test_monolithic_push_on_a_full_disk(small_disk: LiveServer) -> None:
    small = b"stored before the disk filled"
    with httpx.Client(base_url=small_disk.url, timeout=60) as client:
        assert client.post(f"/v2/r/blobs/uploads/?digest={digest(small)}", content=small).is_success
        assert_insufficient(client.post(f"/v2/r/blobs/uploads/?digest={digest(BIG)}", content=BIG))
        assert client.get(f"/v2/r/blobs/{digest(BIG)}").status_code == 404
        assert client.get(f"/v2/r/blobs/{digest(small)}").content == small
    assert stray_uploads(small_disk) == []


def test_chunked_push_on_a_full_disk(small_disk: LiveServer) -> None:
    with httpx.Client(base_url=small_disk.url, timeout=60) as client:
        location = client.post("/v2/r/blobs/uploads/").headers["Location"]
        response = client.patch(
            location, content=BIG, headers={"Content-Range": f"0-{len(BIG) - 1}"}
        )
        assert_insufficient(response)
