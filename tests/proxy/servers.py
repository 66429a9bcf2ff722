"""An upstream registry and a cache of it, both real servers on 127.0.0.1: the upstream is
another artifact-store (or distribution), seen through a recording proxy that counts
what the cache asks of it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.clients.proxy import RecordingProxy
from tests.conftest import LiveServer, start_server, stop_server
from tests.registry.helpers import OCI_MANIFEST, image, sha256

PREFIX = "up"


@dataclass
class Upstream:
    server: LiveServer
    recorder: RecordingProxy
    auth: tuple[str, str] | None = None  # what pushes to it need

    @property
    def url(self) -> str:
        return f"http://{self.recorder.host}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, auth=self.auth, timeout=60)

    def gets(self, pattern: str) -> int:
        """GETs the upstream received whose path matches `pattern`."""
        return len(self.recorder.matching("GET", pattern))

    def heads(self, pattern: str) -> int:
        return len(self.recorder.matching("HEAD", pattern))

    def stop(self) -> None:
        stop_server(self.server)
        self.recorder.__exit__()


@dataclass(frozen=True)
class PushedImage:
    repository: str
    tag: str
    digest: str
    manifest: bytes
    blobs: dict[str, bytes]  # digest -> bytes, config and layers


def upstream_table(url: str, prefix: str = PREFIX, **extra: Any) -> str:
    values = {"prefix": prefix, "url": url, **extra}
    body = "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items())
    return f"[[upstream]]\n{body}\n"


def start_cache(
    directory: Path, tables: str, *extra: str, env: dict[str, str] | None = None
) -> LiveServer:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.toml"
    config.write_text(tables)
    return start_server(directory / "data", "--config", str(config), *extra, env=env)


def push_image(client: httpx.Client, repository: str, tag: str, *layers: bytes) -> PushedImage:
    """An OCI image pushed the way any client does: blobs whole, then the manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": tag}).encode()
    blobs = {sha256(blob): blob for blob in (config, *layers)}
    for digest, blob in blobs.items():
        answer = client.post(f"/v2/{repository}/blobs/uploads/?digest={digest}", content=blob)
        assert answer.status_code == 201, answer.text
    manifest = image(config, *layers)
    answer = client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert answer.status_code == 201, answer.text
    return PushedImage(repository, tag, sha256(manifest), manifest, blobs)


def random_bytes(size: int) -> bytes:
    return os.urandom(size)
