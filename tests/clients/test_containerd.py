"""Scenario 7: containerd's `ctr` against a containerd the tests start (native snapshotter)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .commands import skopeo
from .engines import Containerd
from .images import MultiArchImage, OciImage
from .live_registry import Registry, fetch_manifest

pytestmark = pytest.mark.clients


def image_digest(containerd: Containerd, ref: str) -> str:
    out = containerd.ctr("images", "ls").stdout
    for line in out.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == ref:
            return fields[2]
    raise AssertionError(f"{ref} not in `ctr images ls`:\n{out}")


def check_complete(containerd: Containerd, ref: str) -> None:
    out = containerd.ctr("images", "check", f"name=={ref}").stdout
    lines = [line for line in out.splitlines()[1:] if line.split() and line.split()[0] == ref]
    assert lines, f"{ref} not in `ctr images check`:\n{out}"
    match = re.search(r"complete \((\d+)/(\d+)\)", lines[0])
    assert match and match.group(1) == match.group(2), f"incomplete image:\n{out}"
    assert lines[0].split()[-1] == "true", f"not unpacked:\n{out}"


def test_ctr_pull_check_push(
    registry: Registry, repo: Any, containerd: Containerd, small_oci_image: OciImage
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:v1"
    skopeo("copy", "--dest-tls-verify=false", small_oci_image.oci_ref, f"docker://{ref}")

    containerd.ctr("images", "pull", "--plain-http", ref)
    assert image_digest(containerd, ref) == small_oci_image.manifest_digest
    check_complete(containerd, ref)
    # Every blob is in containerd's content store, with the registry's digests.
    content = containerd.ctr("content", "ls", "--quiet").stdout.split()
    for layer in small_oci_image.layers:
        assert layer.descriptor["digest"] in content
    assert small_oci_image.config_digest in content

    # And push back into another repository.
    dest = repo("push")
    dest_ref = f"{registry.host}/{dest}:pushed"
    containerd.ctr("images", "tag", ref, dest_ref)
    containerd.ctr("images", "push", "--plain-http", dest_ref)
    body, _, digest = fetch_manifest(registry, dest, "pushed")
    assert body == small_oci_image.manifest_bytes
    assert digest == small_oci_image.manifest_digest
    containerd.ctr("images", "rm", "--sync", ref, dest_ref)


def test_ctr_pull_multiarch_platform(
    registry: Registry, repo: Any, containerd: Containerd, multiarch_image: MultiArchImage
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:multi"
    skopeo("copy", "--all", "--dest-tls-verify=false", multiarch_image.oci_ref, f"docker://{ref}")
    containerd.ctr(
        "images", "pull", "--plain-http", "--platform", "linux/arm64", ref
    )  # fmt: skip
    assert image_digest(containerd, ref) == multiarch_image.index_digest
    content = containerd.ctr("content", "ls", "--quiet").stdout.split()
    arm, amd = multiarch_image.images["arm64"], multiarch_image.images["amd64"]
    assert arm.manifest_digest in content
    assert arm.config_digest in content
    for layer in arm.layers:
        assert layer.descriptor["digest"] in content
    for layer in amd.layers:  # only the platform asked for is fetched
        assert layer.descriptor["digest"] not in content
    manifest = json.loads(containerd.ctr("content", "get", arm.manifest_digest).stdout)
    assert manifest == arm.manifest
    containerd.ctr("images", "rm", "--sync", ref)
