"""The registry under test as clients address it: its address, its log, and plain HTTP reads
straight to the server (not through any proxy)."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

if TYPE_CHECKING:
    from .proxy import RecordingProxy

MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

_LOG_TAIL_LINES = 60
_FAILED_REQUESTS_SHOWN = 20


@dataclass
class Registry:
    """The registry under test, as clients address it."""

    server: Any  # tests/conftest.py's LiveServer
    host: str  # what clients are given: the server itself, or a recording proxy in front
    recorder: RecordingProxy | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        data_dir = self.server.data_dir
        if data_dir is None:
            return "(external registry: no server log)"
        log = data_dir.parent / f"{data_dir.name}.log"
        if not log.exists():
            return f"(no log at {log})"
        text = log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def diagnostics(self) -> str:
        """What a failed command shows: the requests that failed, and the server's log tail."""
        parts = self._failed_requests()
        parts.append(f"server log tail ({self.server.host}):\n{self.log_tail()}")
        return "\n".join(parts)

    def _failed_requests(self) -> list[str]:
        if self.recorder is None:
            return []
        failed = [r for r in self.recorder.requests if r.status >= 400 or r.status == 0]
        if not failed:
            return []
        lines = ["failed HTTP requests (through the recording proxy):"]
        return lines + [f"  {r}" for r in failed[-_FAILED_REQUESTS_SHOWN:]]


# The registry the running test uses, set by the `registry` fixtures: a failed command shows
# its diagnostics.
current_registry: Registry | None = None


def http_get(
    registry: Registry, path: str, accept: str = MANIFEST_ACCEPT
) -> tuple[int, dict[str, str], bytes]:
    """A plain GET straight to the server (not through any proxy)."""
    host, port = registry.server.host.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", path, headers={"Accept": accept})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def fetch_manifest(registry: Registry, repo: str, ref: str) -> tuple[bytes, str, str]:
    """(bytes, media type, Docker-Content-Digest) of a manifest, asserting a 200."""
    status, headers, body = http_get(registry, f"/v2/{repo}/manifests/{ref}")
    assert status == 200, f"GET /v2/{repo}/manifests/{ref} -> {status}: {body[:500]!r}"
    return body, headers.get("content-type", ""), headers.get("docker-content-digest", "")
