"""A disk that fills up: pushes answer 507 with an OCI body and leave nothing behind;
pulls of what is stored go on. A server started on a full disk serves read-only (and
says so in /readyz) until space is freed."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server

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


def seeded(tmp_path: Path, content: bytes) -> Path:
    """A data directory holding `content` in repository r, its SQLite file checkpointed (a
    write-ahead log that start-up folds in would free space on the full disk)."""
    data_dir = tmp_path / "seed"
    server = start_server(data_dir, "--workers", "1")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            pushed = client.post(f"/v2/r/blobs/uploads/?digest={digest(content)}", content=content)
            assert pushed.status_code == 201, pushed.text
    finally:
        stop_server(server)
    with sqlite3.connect(data_dir / "metadata.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return data_dir


def read_only_reason(client: httpx.Client) -> str | None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text  # pulls are served: ready all the same
    reason: str | None = ready.json().get("read_only")
    return reason


def test_a_server_started_on_a_full_disk_serves_pulls_and_refuses_writes(
    tmp_path: Path,
) -> None:
    content = b"stored before the disk filled up"
    seed = seeded(tmp_path, content)
    server = serve_on_tmpfs(tmp_path / "full", "4m", "--workers", "1", seed=seed, fill=True)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert "space" in (read_only_reason(client) or "")
            assert client.get(f"/v2/r/blobs/{digest(content)}").content == content
            assert client.head(f"/v2/r/blobs/{digest(content)}").status_code == 200
            assert_insufficient(client.post("/v2/r/blobs/uploads/"))
            assert_insufficient(client.delete(f"/v2/r/blobs/{digest(content)}"))
            assert_insufficient(client.put("/v2/r/manifests/latest", content=b"{}"))
            assert client.get(f"/v2/r/blobs/{digest(content)}").content == content
            assert "space left" in server_log(tmp_path / "full")
            # space freed: writes are taken again, without a restart
            assert server.data_dir is not None
            inside(server, tmp_path / "full" / "fill").unlink()
            deadline = time.monotonic() + 60
            while read_only_reason(client) is not None and time.monotonic() < deadline:
                time.sleep(0.5)
            assert read_only_reason(client) is None
            more = b"pushed once space was freed"
            pushed = client.post(f"/v2/r/blobs/uploads/?digest={digest(more)}", content=more)
            assert pushed.status_code == 201, pushed.text
    finally:
        stop_server(server)


def server_log(root: Path) -> str:
    return (root.parent / f"{root.name}.log").read_text(errors="replace")
