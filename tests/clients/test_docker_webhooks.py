"""Webhooks from docker's pushes and deletes: a real dockerd pushes to a server with a
sink, and the receiver gets distribution's envelope as distribution would send it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.receiver import Receiver, notifications_toml

from .engines import Dockerd
from .images import DOCKER_MANIFEST

pytestmark = pytest.mark.clients
ENVELOPE = "application/vnd.docker.distribution.events.v1+json"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def hooked_server(tmp_path: Path, receiver: Receiver) -> Iterator[LiveServer]:
    config = tmp_path / "artifact-store.toml"
    config.write_text(notifications_toml("docker-hook", receiver.url, actions=["push", "delete"]))
    server = start_server(tmp_path / "data", "--config", str(config))
    yield server
    stop_server(server)


def test_docker_push_and_delete_arrive(
    hooked_server: LiveServer, receiver: Receiver, dockerd: Dockerd, rootfs_tarball: Path
) -> None:
    # 127.0.0.0/8 is a plain-HTTP registry range for dockerd by default: any port will do.
    ref = f"{hooked_server.host}/hooked/docker:v1"
    dockerd.docker("import", rootfs_tarball, ref)
    out = dockerd.docker("push", ref).stdout
    pushed = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert pushed, out
    digest = pushed.group(1)
    deleted = httpx.delete(f"{hooked_server.url}/v2/hooked/docker/manifests/{digest}")
    assert deleted.status_code == 202
    dockerd.docker("rmi", "--force", ref)
    events = receiver.wait_for(lambda found: any(e["action"] == "delete" for e in found))
    assert {d.content_type for d in receiver.deliveries} == {ENVELOPE}
    manifest = next(e for e in events if e["target"].get("tag") == "v1")
    assert manifest["action"] == "push"
    assert manifest["target"]["mediaType"] == DOCKER_MANIFEST
    assert manifest["target"]["digest"] == digest
    assert "docker" in manifest["request"]["useragent"]
    layers = [
        e for e in events if e["action"] == "push" and e["target"]["mediaType"] != DOCKER_MANIFEST
    ]
    assert layers and all(e["target"]["repository"] == "hooked/docker" for e in layers)
    assert events[-1]["action"] == "delete" and events[-1]["target"]["digest"] == digest
