"""No file descriptor left for a push: 503 with an OCI body naming the cause, and the
next push after descriptors are back succeeds."""

from __future__ import annotations

import hashlib
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture
def single_process(tmp_path: Path) -> Iterator[LiveServer]:
    """Hypercorn with one worker serves in the process started: its limits are the ones."""
    server = start_server(tmp_path / "data", "--workers", "1", "--server", "hypercorn")
    yield server
    stop_server(server)


def push(client: httpx.Client, data: bytes) -> httpx.Response:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return client.post(f"/v2/r/blobs/uploads/?digest={digest}", content=data)


def test_push_without_descriptors_is_503(single_process: LiveServer) -> None:
    assert single_process.process is not None
    pid = single_process.process.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    with httpx.Client(base_url=single_process.url, timeout=30) as client:
        assert push(client, b"warm").status_code == 201  # the connection is open
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        refused = None
        for limit in range(in_use, in_use - 4, -1):  # the first limit with none to spare
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
            response = push(client, os.urandom(64))
            if response.status_code != 201:
                refused = response
                break
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        assert refused is not None
        assert refused.status_code == 503, refused.text
        error = refused.json()["errors"][0]
        assert error["code"] == "UNAVAILABLE"
        assert "open files" in error["detail"]["cause"]
        assert push(client, b"after").status_code == 201
