"""Garbage collection under real clients: crane pushes two images that share a layer, deletes
one, `artifact-store gc` removes exactly that image's own blobs (and lists them first in a
dry run), and crane and skopeo pull the survivor whole, shared layer included."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.registry.cli_process import run as artifact_store

from .commands import run, skopeo, tool
from .images import Layer, OciLayoutWriter, file_digest

pytestmark = pytest.mark.clients


def crane(*args: str | Path, **kwargs: Any) -> Any:
    return run([tool("crane"), "--insecure", *args], **kwargs)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own: gc with no grace would take other tests' fresh blobs."""
    running = start_server(tmp_path / "data")
    yield running
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


def gc(data_dir: Path, *args: str) -> dict[str, Any]:
    done = artifact_store("gc", "--data-dir", str(data_dir), "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def blob_files(data_dir: Path) -> set[Path]:
    return {path for path in (data_dir / "objects" / "blobs").rglob("*") if path.is_file()}


def test_gc_after_deleting_one_of_two_images_sharing_a_layer(
    server: LiveServer, tmp_path: Path
) -> None:
    assert server.data_dir is not None
    shared, own_a, own_b = (layer(tmp_path, name) for name in ("shared", "a", "b"))
    kept = image_layout(tmp_path / "kept", [shared, own_a], "kept")
    doomed = image_layout(tmp_path / "doomed", [shared, own_b], "doomed")
    base = f"{server.host}/gc/clients"
    crane("push", tmp_path / "kept", f"{base}:kept")
    crane("push", tmp_path / "doomed", f"{base}:doomed")
    crane("delete", f"{base}@{doomed['manifest']}")
    before = blob_files(server.data_dir)
    own = {doomed["manifest"], doomed["config"], doomed["layers"][1]}

    dry = gc(server.data_dir, "--dry-run", "--grace", "0s")
    assert (dry["dry_run"], set(dry["blobs"])) == (True, own)
    assert blob_files(server.data_dir) == before
    done = gc(server.data_dir, "--grace", "0s")

    assert set(done["blobs"]) == own
    assert len(before - blob_files(server.data_dir)) == len(own)
    pulled = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{base}:kept", f"oci:{pulled}:kept")
    for digest in [kept["config"], *kept["layers"]]:
        assert file_digest(pulled / "blobs" / "sha256" / digest.split(":", 1)[1]) == digest
    crane("pull", "--format", "oci", f"{base}:kept", tmp_path / "crane-pulled")
    assert crane("digest", f"{base}:kept").stdout.strip() == kept["manifest"]
    missing = crane("manifest", f"{base}@{doomed['manifest']}", check=False)
    assert missing.returncode != 0
