"""An upstream registry and a cache of it, both real servers on 127.0.0.1: the upstream is
another artifact-store (or distribution), seen through a recording proxy that counts
what the cache asks of it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.clients.proxy import RecordingProxy
from tests.conftest import LiveServer, start_server
from tests.registry.helpers import OCI_MANIFEST, image, sha256

PREFIX = "up"


@dataclass
class Upstream:
    server_url: str  # the server itself, for pushes
    stop_server: Callable[[], None]
    recorder: RecordingProxy  # in front of it, for the cache
    auth: tuple[str, str] | None = None  # what pushes to it need

    @property
    def url(self) -> str:
        return f"http://{self.recorder.host}"

    def client(self) -> httpx.Client:
        auth = ChallengeAuth(*self.auth) if self.auth else None
        return httpx.Client(base_url=self.server_url, auth=auth, timeout=60)

    def gets(self, pattern: str) -> int:
        """GETs the upstream received whose path matches `pattern`."""
        return len(self.recorder.matching("GET", pattern))

    def heads(self, pattern: str) -> int:
        return len(self.recorder.matching("HEAD", pattern))

    def stop(self) -> None:
        self.stop_server()
        self.recorder.__exit__()


class ChallengeAuth(httpx.Auth):
    """Answers a registry's challenge as clients do: Basic, or a token from the realm."""

    requires_response_body = True

    def __init__(self, username: str, password: str) -> None:
        self.basic = httpx.BasicAuth(username, password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code != 401:
            return
        if challenge.lower().startswith("basic"):
            yield from self.basic.auth_flow(request)
            return
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm")
        token_request = self.basic.auth_flow(httpx.Request("GET", realm, params=params))
        answer = yield next(token_request)
        request.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        yield request


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
    """An OCI image pushed the way any client does: each blob in a session closed by one
    PUT, then the manifest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": tag}).encode()
    blobs = {sha256(blob): blob for blob in (config, *layers)}
    for digest, blob in blobs.items():
        started = client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        joined = "&" if "?" in location else "?"
        answer = client.put(f"{location}{joined}digest={digest}", content=blob)
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
