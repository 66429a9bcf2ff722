"""The Flux CLI: GitOps manifests as OCI artifacts (push, pull, tag, list, diff), plain and
under Basic and token auth (`--creds`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .auth_server import AuthServer, auth_server
from .commands import run, tool
from .images import OCI_MANIFEST, sha256_digest
from .listings import tags
from .live_registry import Registry, fetch_manifest

pytestmark = pytest.mark.clients

FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
SOURCE = "https://github.com/example/fleet"
REVISION = "main@sha1:6f1a9c3d6a5e4b0f8a2c1d9e7b3f5a0c4d2e8b1f"
INSECURE = "--insecure-registry"  # plain HTTP to the test registry


class Flux:
    """The flux CLI with its own (empty) Docker config: no credentials but those given."""

    def __init__(self, home: Path) -> None:
        (home / "docker").mkdir(parents=True)
        (home / "docker" / "config.json").write_text("{}")
        self.env = {"DOCKER_CONFIG": str(home / "docker"), "KUBECONFIG": str(home / "kubeconfig")}

    def __call__(self, *args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run([tool("flux"), *args, "--timeout", "2m"], env=self.env, **kwargs)

    def push(self, ref: str, path: Path, revision: str = REVISION, *extra: str) -> dict[str, str]:
        """`flux push artifact` of the directory `path`: its JSON report (url, digest, …)."""
        out = self(
            "push", "artifact", ref, "--path", path, "--source", SOURCE, "--revision", revision,
            "--output", "json", INSECURE, *extra,
        ).stdout  # fmt: skip
        return dict(json.loads(out))

    def pull(self, ref: str, destination: Path, *extra: str) -> dict[str, bytes]:
        """`flux pull artifact` into a new directory: the files it extracted."""
        destination.mkdir(parents=True)
        self("pull", "artifact", ref, "--output", destination, INSECURE, *extra)
        return read_tree(destination)

    def list(self, url: str, *extra: str) -> dict[str, list[str]]:
        """`flux list artifacts`: tag -> [digest, source, revision]."""
        out = self("list", "artifacts", url, INSECURE, *extra).stdout
        rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
        return {row[0].rsplit(":", 1)[1]: row[1:] for row in rows}


@pytest.fixture
def flux(tmp_path: Path) -> Flux:
    return Flux(tmp_path / "flux-home")


@pytest.fixture(scope="module", params=["basic", "token"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    with auth_server(tmp_path_factory.mktemp(f"flux-{request.param}"), request.param) as server:
        yield server


def write_manifests(directory: Path) -> dict[str, bytes]:
    """A small GitOps tree: a kustomization, two manifests, a binary file and an empty one."""
    files = {
        "kustomization.yaml": b"resources:\n  - app/deployment.yaml\n  - app/service.yaml\n",
        "app/deployment.yaml": b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
        "app/service.yaml": b"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
        "data/blob.bin": os.urandom(300_000),
        "data/empty.txt": b"",
    }
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return files


def read_tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_flux_push_pull_tag_list(registry: Registry, repo: Any, flux: Flux, tmp_path: Path) -> None:
    name = repo()
    url = f"oci://{registry.host}/{name}"
    files = write_manifests(tmp_path / "src")
    pushed = flux.push(f"{url}:v1", tmp_path / "src")

    body, media_type, header_digest = fetch_manifest(registry, name, "v1")
    assert sha256_digest(body) == header_digest == pushed["digest"]
    assert media_type == OCI_MANIFEST
    manifest = json.loads(body)
    assert manifest["config"]["mediaType"] == FLUX_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [FLUX_CONTENT]
    assert manifest["annotations"]["org.opencontainers.image.source"] == SOURCE
    assert manifest["annotations"]["org.opencontainers.image.revision"] == REVISION

    assert flux.pull(f"{url}:v1", tmp_path / "by-tag") == files
    assert flux.pull(f"{url}@{pushed['digest']}", tmp_path / "by-digest") == files
    flux("diff", "artifact", f"{url}:v1", "--path", tmp_path / "src", INSECURE)

    flux("tag", "artifact", f"{url}:v1", "--tag", "latest", "--tag", "production")
    assert tags(registry, name) == ["latest", "production", "v1"]
    for tag in ("latest", "production"):
        assert fetch_manifest(registry, name, tag)[2] == pushed["digest"]
    listed = flux.list(url)
    assert listed == {
        tag: [pushed["digest"], SOURCE, REVISION] for tag in ("latest", "production", "v1")
    }


def test_flux_second_version(registry: Registry, repo: Any, flux: Flux, tmp_path: Path) -> None:
    """A changed tree pushed as v2: both versions pull back as pushed, and `flux diff artifact`
    sees the change."""
    name = repo()
    url = f"oci://{registry.host}/{name}"
    first = write_manifests(tmp_path / "v1")
    v1 = flux.push(f"{url}:v1", tmp_path / "v1")
    shutil.copytree(tmp_path / "v1", tmp_path / "v2")
    second = {**first, "app/service.yaml": b"kind: Service\nmetadata:\n  name: web-v2\n"}
    (tmp_path / "v2" / "app" / "service.yaml").write_bytes(second["app/service.yaml"])
    revision = "main@sha1:0c4d2e8b1f6f1a9c3d6a5e4b0f8a2c1d9e7b3f5a"
    v2 = flux.push(f"{url}:v2", tmp_path / "v2", revision)
    assert v1["digest"] != v2["digest"]

    assert flux.pull(f"{url}:v1", tmp_path / "pulled-v1") == first
    assert flux.pull(f"{url}:v2", tmp_path / "pulled-v2") == second
    assert flux.list(url) == {
        "v1": [v1["digest"], SOURCE, REVISION],
        "v2": [v2["digest"], SOURCE, revision],
    }
    assert flux.list(url, "--filter-regex", "^v2$") == {"v2": [v2["digest"], SOURCE, revision]}
    changed = flux(
        "diff", "artifact", f"{url}:v1", "--path", tmp_path / "v2", INSECURE, check=False
    )
    assert changed.returncode != 0
    assert "differs" in changed.stderr
    flux("diff", "artifact", f"{url}:v2", "--path", tmp_path / "v2", INSECURE)


def test_flux_creds(secured: AuthServer, flux: Flux, tmp_path: Path) -> None:
    """Under Basic and token auth: refused without `--creds`, everything works with them."""
    name = secured.repository("fleet")
    url = f"oci://{secured.host}/{name}"
    creds = ["--creds", f"{secured.user}:{secured.password}"]
    files = write_manifests(tmp_path / "src")

    refused = flux("push", "artifact", f"{url}:v1", "--path", tmp_path / "src", "--source", SOURCE,
                   "--revision", REVISION, INSECURE, check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "401" in refused.stderr or "UNAUTHORIZED" in refused.stderr

    pushed = flux.push(f"{url}:v1", tmp_path / "src", REVISION, *creds)
    assert flux.pull(f"{url}:v1", tmp_path / "pulled", *creds) == files
    flux("tag", "artifact", f"{url}:v1", "--tag", "latest", *creds)
    assert flux.list(url, *creds) == {
        tag: [pushed["digest"], SOURCE, REVISION] for tag in ("latest", "v1")
    }
