"""Shared fixtures: a real artifact-store process listening on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.scaleout.postgres import PostgresServer
    from tests.storage.s3server import S3Server

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LiveServer:
    host: str  # "127.0.0.1:PORT", as clients take it
    data_dir: Path | None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(
    url: str, process: subprocess.Popen[bytes] | None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not answer within {timeout}s")


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> LiveServer:
    host = f"127.0.0.1:{free_port()}"
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent)) or "artifact-store"
    with open(data_dir.parent / f"{data_dir.name}.log", "ab") as log:
        process = subprocess.Popen(
            [exe, "serve", "--addr", host, "--data-dir", str(data_dir), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    server = LiveServer(host, data_dir, process)
    try:
        wait_until_serving(server.url, process)
    except Exception:
        stop_server(server)
        raise
    return server


def stop_server(server: LiveServer) -> None:
    if server.process is None:
        return
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server per test session (or an external one from ARTIFACT_STORE_TEST_URL)."""
    external = os.environ.get("ARTIFACT_STORE_TEST_URL")
    if external:
        yield LiveServer(external.removeprefix("http://"), None)
        return
    server = start_server(tmp_path_factory.mktemp("live") / "data")
    yield server
    stop_server(server)


def missing_tool(message: str) -> None:
    """Skip the test for want of a tool; under CI=true the tool must be there: fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server (Debian's, initdb in a temporary directory) for the session."""
    from tests.scaleout.postgres import start_postgres

    server = start_postgres()
    if server is None:
        missing_tool("PostgreSQL is not installed: run `make scaleout-tools`")
    assert server is not None
    yield server
    server.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server for the session (skipped, or failed under CI, without `weed`)."""
    from tests.storage.s3server import S3Server, weed_binary

    server = S3Server(tmp_path_factory.mktemp("seaweedfs"), weed_binary())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()
