"""Integrity with a real client: an image pushed with crane, one layer damaged on the
filesystem (a flipped byte) or on S3 (a real SeaweedFS, the object overwritten), found by
`artifact-store verify` by its sha256 digest, refused to the client's pull, healed by its
push of the same content (crane: the same image; oras: the same file), and pulled whole
again."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest

from storage import layout
from tests.conftest import LiveServer, start_server, stop_server
from tests.registry import cli_process

from .commands import run, tool
from .images import OciImage, file_digest, sha256_digest

pytestmark = pytest.mark.clients


@dataclass
class Registry:
    server: LiveServer
    env: dict[str, str]
    damage: Any  # (blake3 hex) -> None

    def verify(self) -> tuple[int, dict[str, Any]]:
        data_dir = str(self.server.data_dir)
        done = cli_process.run("verify", "--data-dir", data_dir, "--json", env=self.env)
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)


@pytest.fixture(params=["filesystem", "s3"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    env: dict[str, str] = {}
    if request.param == "s3":
        from tests.storage.s3server import registry_env

        s3 = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        prefix = f"integrity-{uuid.uuid4().hex[:8]}"
        env = registry_env(s3, bucket, prefix)

        def damage(key: str) -> None:
            name = f"{prefix}/{layout.blob_key(key)}"
            s3.client().put_object(Bucket=bucket, Key=name, Body=b"overwritten")

    else:

        def damage(key: str) -> None:
            path = tmp_path / "data" / "objects" / layout.blob_key(key)
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))

    server = start_server(tmp_path / "data", env=env)
    yield Registry(server, env, damage)
    stop_server(server)


def crane(*args: str | Path, check: bool = True) -> Any:
    return run([tool("crane"), "--insecure", *args], check=check)


def test_crane_push_damage_verify_heal_pull(
    registry: Registry, small_oci_image: OciImage, tmp_path: Path
) -> None:
    ref = f"{registry.server.host}/integrity/crane:v1"
    crane("push", small_oci_image.layout, ref)
    assert registry.verify()[0] == 0
    layer = small_oci_image.layers[1].descriptor["digest"]
    blob = small_oci_image.layout / "blobs" / "sha256" / layer.removeprefix("sha256:")
    registry.damage(blake3.blake3(blob.read_bytes()).hexdigest())

    status, report = registry.verify()
    assert status == 1
    assert report["corrupt_digests"] == [layer]
    assert report["missing_digests"] == [] and report["orphan_keys"] == []
    failed = crane("pull", "--format", "oci", ref, tmp_path / "refused", check=False)
    assert failed.returncode != 0

    crane("push", small_oci_image.layout, ref)  # the same image again heals the layer
    crane("pull", "--format", "oci", ref, tmp_path / "pulled")
    pulled = tmp_path / "pulled" / "blobs" / "sha256" / layer.removeprefix("sha256:")
    assert file_digest(pulled) == layer
    status, report = registry.verify()
    assert (status, report["intact"]) == (0, True)


def oras(*args: str | Path, check: bool = True, cwd: Path | None = None) -> Any:
    return run([tool("oras"), *args], check=check, cwd=cwd)


def test_oras_push_damage_verify_heal_pull(registry: Registry, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 11)
    (source / "data.bin").write_bytes(payload)
    ref = f"{registry.server.host}/integrity/oras:v1"
    oras("push", "--plain-http", ref, "data.bin:application/octet-stream", cwd=source)
    registry.damage(blake3.blake3(payload).hexdigest())

    status, report = registry.verify()
    assert status == 1 and report["corrupt_digests"] == [sha256_digest(payload)]
    refused = oras("pull", "--plain-http", "-o", tmp_path / "refused", ref, check=False)
    assert refused.returncode != 0

    oras("push", "--plain-http", ref, "data.bin:application/octet-stream", cwd=source)
    oras("pull", "--plain-http", "-o", tmp_path / "pulled", ref)
    assert (tmp_path / "pulled" / "data.bin").read_bytes() == payload
    assert registry.verify()[0] == 0
