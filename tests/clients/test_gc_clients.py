"""Garbage collection under real clients: crane pushes two images that share a layer, deletes
one, `artifact-store gc` removes exactly that image's own blobs (and lists them first in a
dry run): files on the filesystem, keys in a SeaweedFS bucket; crane and skopeo pull the
survivor whole, shared layer included."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.registry.cli_process import run as artifact_store
from tests.storage.s3server import registry_env

from .commands import run, skopeo, tool
from .images import Layer, OciLayoutWriter, file_digest

pytestmark = pytest.mark.clients


def crane(*args: str | Path, **kwargs: Any) -> Any:
    return run([tool("crane"), "--insecure", *args], **kwargs)


@dataclass
class Deployed:
    server: LiveServer
    data_dir: Path
    env: dict[str, str]  # what `gc` needs besides --data-dir: the S3 settings, if any
    blob_keys: Callable[[], set[str]]


@pytest.fixture(params=["filesystem", "s3"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployed]:
    """A server of its own (gc with no grace would take other tests' fresh blobs)."""
    data_dir = tmp_path / "data"
    env: dict[str, str] = {}

    def keys() -> set[str]:
        return {p.name for p in (data_dir / "objects" / "blobs").rglob("*") if p.is_file()}

    if request.param == "s3":
        s3 = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        prefix = f"gc-{uuid.uuid4().hex[:8]}"
        env = registry_env(s3, bucket, prefix)

        def keys() -> set[str]:
            return {key.rsplit("/", 1)[1] for key in s3.keys(bucket, f"{prefix}/blobs/")}

    running = start_server(data_dir, env=env)
    yield Deployed(running, data_dir, env, keys)
    stop_server(running)


def image_layout(path: Path, layers: list[tuple[bytes, Layer]], tag: str) -> dict[str, Any]:
    """An OCI layout of one image; returns the digests of its manifest, config and layers."""
    writer = OciLayoutWriter(path)
    for blob, _ in layers:
        writer.add_blob(blob)
    descriptor, _, _, config = writer.add_image([layer for _, layer in layers])
    writer.tag(descriptor, tag)
    return {
        "manifest": descriptor["digest"],
        "config": config,
        "layers": [layer.descriptor["digest"] for _, layer in layers],
    }


def layer(tmp_path: Path, name: str) -> tuple[bytes, Layer]:
    scratch = OciLayoutWriter(tmp_path / f"scratch-{name}")
    made = scratch.add_layer({f"{name}/data.bin": os.urandom(256 * 1024)}, "gzip")
    blob_path = scratch.path / "blobs" / "sha256" / made.descriptor["digest"].split(":", 1)[1]
    return blob_path.read_bytes(), made


def gc(deployed: Deployed, *args: str) -> dict[str, Any]:
    done = artifact_store(
        "gc", "--data-dir", str(deployed.data_dir), "--json", *args, env=deployed.env
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_gc_after_deleting_one_of_two_images_sharing_a_layer(
    deployed: Deployed, tmp_path: Path
) -> None:
    server = deployed.server
    shared, own_a, own_b = (layer(tmp_path, name) for name in ("shared", "a", "b"))
    kept = image_layout(tmp_path / "kept", [shared, own_a], "kept")
    doomed = image_layout(tmp_path / "doomed", [shared, own_b], "doomed")
    base = f"{server.host}/gc/clients"
    crane("push", tmp_path / "kept", f"{base}:kept")
    crane("push", tmp_path / "doomed", f"{base}:doomed")
    crane("delete", f"{base}@{doomed['manifest']}")
    before = deployed.blob_keys()
    own = {doomed["manifest"], doomed["config"], doomed["layers"][1]}

    dry = gc(deployed, "--dry-run", "--grace", "0s")
    assert (dry["dry_run"], set(dry["blobs"])) == (True, own)
    assert deployed.blob_keys() == before
    done = gc(deployed, "--grace", "0s")

    assert set(done["blobs"]) == own
    assert len(before - deployed.blob_keys()) == len(own)
    assert deployed.blob_keys() < before
    pulled = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{base}:kept", f"oci:{pulled}:kept")
    for digest in [kept["config"], *kept["layers"]]:
        assert file_digest(pulled / "blobs" / "sha256" / digest.split(":", 1)[1]) == digest
    crane("pull", "--format", "oci", f"{base}:kept", tmp_path / "crane-pulled")
    assert crane("digest", f"{base}:kept").stdout.strip() == kept["manifest"]
    missing = crane("manifest", f"{base}@{doomed['manifest']}", check=False)
    assert missing.returncode != 0
