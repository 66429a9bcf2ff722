"""Scenario 6: regctl (regclient) image copy, artifacts, tags and referrers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .commands import run, tool
from .images import MultiArchImage, OciImage, sha256_digest
from .live_registry import Registry, fetch_manifest

pytestmark = pytest.mark.clients


class Regctl:
    """regctl with its own config file (REGCTL_CONFIG), the registry set to plain HTTP."""

    def __init__(self, config_dir: Path, host: str, *settings: str) -> None:
        self.env = {"REGCTL_CONFIG": str(config_dir / "config.json"), "HOME": str(config_dir)}
        self("registry", "set", host, "--tls", "disabled", "--skip-check", *settings)

    def __call__(self, *args: str | Path, **kwargs: Any) -> Any:
        return run([tool("regctl"), *args], env=self.env, **kwargs)


@pytest.fixture
def regctl(registry: Registry, tmp_path: Path) -> Regctl:
    return Regctl(tmp_path / "regctl", registry.host)


def test_regctl_image_copy(
    registry: Registry,
    repo: Any,
    regctl: Regctl,
    tmp_path: Path,
    small_oci_image: OciImage,
    multiarch_image: MultiArchImage,
) -> None:
    name = repo("src")
    # From an OCI layout on disk into the registry.
    ref = f"{registry.host}/{name}:v1"
    regctl("image", "copy", f"ocidir://{small_oci_image.layout}:{small_oci_image.tag}", ref)
    body, _, _ = fetch_manifest(registry, name, "v1")
    assert body == small_oci_image.manifest_bytes
    assert regctl("image", "digest", ref).stdout.strip() == small_oci_image.manifest_digest

    multi = f"{registry.host}/{name}:multi"
    regctl("image", "copy", f"ocidir://{multiarch_image.layout}:{multiarch_image.tag}", multi)
    body, _, _ = fetch_manifest(registry, name, "multi")
    assert body == multiarch_image.index_bytes
    raw = regctl("manifest", "get", "--format", "raw-body", multi).stdout.encode()
    assert raw == multiarch_image.index_bytes
    arm = regctl(
        "manifest", "get", "--platform", "linux/arm64", "--format", "raw-body", multi
    ).stdout.encode()
    assert sha256_digest(arm) == multiarch_image.images["arm64"].manifest_digest

    # Registry to registry, into another repository (regctl mounts the blobs).
    dest = repo("dst")
    regctl("image", "copy", multi, f"{registry.host}/{dest}:copied")
    body, _, _ = fetch_manifest(registry, dest, "copied")
    assert body == multiarch_image.index_bytes
    for image in multiarch_image.images.values():
        assert fetch_manifest(registry, dest, image.manifest_digest)[0] == image.manifest_bytes

    # And back out to a layout.
    out = tmp_path / "out"
    regctl("image", "copy", f"{registry.host}/{dest}:copied", f"ocidir://{out}:back")
    index = json.loads((out / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [multiarch_image.index_digest]


def test_regctl_artifact_put_get_and_tags(
    registry: Registry, repo: Any, regctl: Regctl, tmp_path: Path, small_oci_image: OciImage
) -> None:
    name = repo()
    payload = os.urandom(100_000).hex().encode()  # text, so it also compares through stdout
    (tmp_path / "payload.bin").write_bytes(payload)
    ref = f"{registry.host}/{name}:artifact"
    regctl(
        "artifact", "put",
        "--artifact-type", "application/vnd.artifact-store.test.regctl",
        "--annotation", "com.example.client=regctl",
        "--file", "payload.bin",
        "--file-media-type", "application/octet-stream",
        "--file-title",
        ref,
        cwd=tmp_path,
    )  # fmt: skip
    body, _, _ = fetch_manifest(registry, name, "artifact")
    manifest = json.loads(body)
    assert manifest["artifactType"] == "application/vnd.artifact-store.test.regctl"
    assert manifest["annotations"]["com.example.client"] == "regctl"
    assert [layer["digest"] for layer in manifest["layers"]] == [sha256_digest(payload)]
    assert manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] == "payload.bin"

    assert regctl("artifact", "get", ref).stdout.encode() == payload
    out = tmp_path / "out"
    out.mkdir()
    regctl("artifact", "get", "--output", out, ref)
    assert (out / "payload.bin").read_bytes() == payload

    # A referrer on an image, listed by regctl through the referrers API.
    image_ref = f"{registry.host}/{name}:image"
    regctl("image", "copy", f"ocidir://{small_oci_image.layout}:{small_oci_image.tag}", image_ref)
    (tmp_path / "sbom.json").write_text('{"sbom": true}')
    regctl(
        "artifact", "put",
        "--artifact-type", "application/spdx+json",
        "--file", tmp_path / "sbom.json", "--file-media-type", "application/json",
        "--subject", image_ref,
    )  # fmt: skip
    listed = json.loads(regctl("artifact", "list", "--format", "{{json .}}", image_ref).stdout)
    descriptors = listed.get("descriptors") or listed.get("Descriptors") or []
    assert [d["artifactType"] for d in descriptors] == ["application/spdx+json"]

    def tags() -> list[str]:
        # (minus the sha256-<hex> tag a registry without the referrers API gets as fallback)
        listed = regctl("tag", "ls", f"{registry.host}/{name}").stdout.split()
        return sorted(t for t in listed if not t.startswith("sha256-"))

    assert tags() == ["artifact", "image"]
    regctl("tag", "delete", image_ref)
    assert tags() == ["artifact"]
