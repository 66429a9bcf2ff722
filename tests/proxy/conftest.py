"""Fixtures for the pull-through cache: a real upstream artifact-store behind a recording
proxy, and a real cache server of it."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.helpers import start, write_htpasswd
from tests.clients.commands import tool
from tests.clients.conftest import containerd, podman  # noqa: F401 - engines, shared
from tests.clients.proxy import RecordingProxy, _start_record
from tests.conftest import LiveServer, free_port, stop_server

from .servers import Upstream, start_cache, upstream_table

USER, PASSWORD = "puller", "pull-secret"
TOKEN_POLICY = f"""
[[auth_policy]]
repositories = ["**"]
actions = ["*"]
users = ["{USER}"]
"""


def _upstream(directory: Path, *extra: str, auth: tuple[str, str] | None = None) -> Upstream:
    """An artifact-store (ready once /v2/ answers, 401 included) behind a recorder."""
    directory.mkdir(parents=True, exist_ok=True)
    server = start(directory / "data", None, *extra)
    recorder = RecordingProxy(server.host).__enter__()
    return Upstream(server.url, server.stop, recorder, auth)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    """An artifact-store without auth."""
    found = _upstream(tmp_path / "upstream")
    yield found
    found.stop()


@pytest.fixture
def basic_upstream(tmp_path: Path) -> Iterator[Upstream]:
    """An artifact-store that wants Basic credentials for everything."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {USER: PASSWORD})
    found = _upstream(
        tmp_path / "upstream", "--auth-htpasswd", str(htpasswd), auth=(USER, PASSWORD)
    )
    yield found
    found.stop()


@pytest.fixture
def token_upstream(tmp_path: Path) -> Iterator[Upstream]:
    """An artifact-store with token auth (its own issuer); only USER may pull."""
    directory = tmp_path / "upstream"
    directory.mkdir(parents=True)
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {USER: PASSWORD})
    (directory / "config.toml").write_text(TOKEN_POLICY)
    found = _upstream(
        directory,
        "--config",
        str(directory / "config.toml"),
        "--auth",
        "token",
        "--auth-htpasswd",
        str(htpasswd),
        auth=(USER, PASSWORD),
    )
    yield found
    found.stop()


class HubTokenGate(RecordingProxy):
    """Docker Hub's way with anonymous pulls, in front of an artifact-store without auth:
    a request without the gate's token gets 401 and a Bearer challenge; its realm hands
    that token to anyone, no credentials asked."""

    TOKEN = "anonymous-pull-token"

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.startswith("/token"):
            self._answer(
                h,
                200,
                {"content-type": "application/json"},
                b'{"token": "%s"}' % (self.TOKEN.encode()),
            )
        elif h.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            realm = f'Bearer realm="http://{self.host}/token",service="hub"'
            self._answer(h, 401, {"www-authenticate": realm}, b"")
        else:
            super().forward(h)

    def _answer(
        self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes
    ) -> None:
        record = _start_record(h)
        record.status, record.response_headers = status, headers
        h.send_response_only(status)
        for name, value in {**headers, "content-length": str(len(body))}.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
        with self._lock:
            self.requests.append(record)


@pytest.fixture
def hub_upstream(tmp_path: Path) -> Iterator[Upstream]:
    """An upstream that wants a token even for anonymous pulls, as Docker Hub does."""
    directory = tmp_path / "upstream"
    directory.mkdir(parents=True)
    server = start(directory / "data", None)
    gate = HubTokenGate(server.host).__enter__()
    found = Upstream(server.url, server.stop, gate)
    yield found
    found.stop()


DISTRIBUTION_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
auth:
  htpasswd:
    realm: distribution
    path: {htpasswd}
"""


@pytest.fixture
def distribution_upstream(tmp_path: Path) -> Iterator[Upstream]:
    """distribution (Debian's docker-registry 2.8) with Basic auth from an htpasswd file."""
    binary = tool("docker-registry")
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {USER: PASSWORD})
    addr = f"127.0.0.1:{free_port()}"
    config = tmp_path / "distribution.yml"
    root = tmp_path / "distribution"
    config.write_text(DISTRIBUTION_CONFIG.format(root=root, addr=addr, htpasswd=htpasswd))
    with open(tmp_path / "distribution.log", "ab") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)

    def stop() -> None:
        process.terminate()
        process.wait(timeout=15)

    try:
        _wait_for(f"http://{addr}/v2/", process)
    except Exception:
        stop()
        raise
    recorder = RecordingProxy(addr).__enter__()
    found = Upstream(f"http://{addr}", stop, recorder, (USER, PASSWORD))
    yield found
    found.stop()


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code in (200, 401):
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


CacheStarter = Callable[..., LiveServer]


@pytest.fixture
def start_cache_of(tmp_path: Path) -> Iterator[CacheStarter]:
    """Starts a cache server whose [[upstream]] table points at an upstream's recorder."""
    started: list[LiveServer] = []

    def start(
        upstream: Upstream, *extra: str, env: dict[str, str] | None = None, **table: Any
    ) -> LiveServer:
        tables = upstream_table(upstream.url, **table)
        server = start_cache(tmp_path / f"cache{len(started)}", tables, *extra, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)
