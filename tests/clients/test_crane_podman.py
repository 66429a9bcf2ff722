"""Scenarios 3 and 4 (and podman's part of 5): multi-arch with crane, skopeo and podman;
Docker schema2 images and manifest lists; podman import/push/pull."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .commands import run, skopeo, tool
from .engines import Podman
from .images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, MultiArchImage, OciImage, sha256_digest
from .live_registry import Registry, fetch_manifest
from .proxy import assert_blobs_not_resent

pytestmark = pytest.mark.clients


def crane(*args: str | Path, **kwargs: Any) -> Any:
    return run([tool("crane"), "--insecure", *args], **kwargs)


def test_crane_multiarch_push_inspect_copy(
    recorded_registry: Registry, repo: Any, multiarch_image: MultiArchImage
) -> None:
    registry = recorded_registry
    name = repo("src")
    ref = f"{registry.host}/{name}:multi"
    crane("push", multiarch_image.layout, ref)

    body, media_type, header_digest = fetch_manifest(registry, name, "multi")
    assert body == multiarch_image.index_bytes
    assert media_type == OCI_INDEX
    assert header_digest == multiarch_image.index_digest

    assert crane("manifest", ref).stdout.encode() == multiarch_image.index_bytes
    assert crane("digest", ref).stdout.strip() == multiarch_image.index_digest
    for arch, image in multiarch_image.images.items():
        assert (
            crane("digest", "--platform", f"linux/{arch}", ref).stdout.strip()
            == image.manifest_digest
        )
        platform_manifest = crane("manifest", "--platform", f"linux/{arch}", ref).stdout.encode()
        assert platform_manifest == image.manifest_bytes
        config = json.loads(crane("config", "--platform", f"linux/{arch}", ref).stdout)
        assert config["architecture"] == arch
    crane("tag", ref, "also")
    assert sorted(crane("ls", f"{registry.host}/{name}").stdout.split()) == ["also", "multi"]

    # crane copy into another repository of the same registry: blobs are mounted, not re-sent.
    dest_name = repo("dst")
    dest = f"{registry.host}/{dest_name}:copied"
    registry.recorder.clear()  # type: ignore[union-attr]
    crane("copy", ref, dest)
    assert crane("digest", dest).stdout.strip() == multiarch_image.index_digest
    body, _, _ = fetch_manifest(registry, dest_name, "copied")
    assert body == multiarch_image.index_bytes
    blobs = {
        layer.descriptor["digest"]
        for image in multiarch_image.images.values()
        for layer in image.layers
    }
    assert_blobs_not_resent(registry, dest_name, blobs)
    for arch, image in multiarch_image.images.items():
        assert (
            crane("digest", "--platform", f"linux/{arch}", dest).stdout.strip()
            == image.manifest_digest
        )


def test_skopeo_all_multiarch_podman_platform_pull(
    registry: Registry, repo: Any, multiarch_image: MultiArchImage, podman: Podman
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:multi"
    skopeo("copy", "--all", "--dest-tls-verify=false", multiarch_image.oci_ref, f"docker://{ref}")
    body, media_type, _ = fetch_manifest(registry, name, "multi")
    assert body == multiarch_image.index_bytes
    assert media_type == OCI_INDEX

    for arch in ("arm64", "amd64"):
        podman("pull", "--tls-verify=false", "--platform", f"linux/{arch}", ref)
        info = podman.inspect(ref)
        expected = multiarch_image.images[arch]
        assert info["Architecture"] == arch
        assert info["Id"] == expected.config_digest.split(":", 1)[1]
        # podman reports the digest it pulled by (the index) and records both.
        assert info["Digest"] == multiarch_image.index_digest
        assert sorted(info["RepoDigests"]) == sorted(
            f"{registry.host}/{name}@{d}"
            for d in (multiarch_image.index_digest, expected.manifest_digest)
        )
        podman("rmi", "--force", ref)


def test_docker_schema2_image_and_manifest_list_with_podman(
    registry: Registry,
    repo: Any,
    small_oci_image: OciImage,
    multiarch_image: MultiArchImage,
    podman: Podman,
) -> None:
    # A Docker schema2 image, converted by skopeo on the way in.
    name = repo("v2s2")
    ref = f"{registry.host}/{name}:v2s2"
    skopeo(
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        small_oci_image.oci_ref,
        f"docker://{ref}",
    )
    body, media_type, header_digest = fetch_manifest(registry, name, "v2s2")
    assert media_type == DOCKER_MANIFEST
    manifest = json.loads(body)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer.descriptor["digest"] for layer in small_oci_image.layers
    ]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert header_digest == sha256_digest(body)

    podman("pull", "--tls-verify=false", ref)
    info = podman.inspect(ref)
    assert info["Digest"] == header_digest
    assert "sha256:" + info["Id"] == manifest["config"]["digest"]
    assert info["ManifestType"] == DOCKER_MANIFEST

    # A Docker manifest list made by podman from per-arch schema2 images, pushed and pulled back.
    oci_ref = f"{registry.host}/{name}:oci-multi"
    skopeo(
        "copy", "--all", "--dest-tls-verify=false", multiarch_image.oci_ref, f"docker://{oci_ref}"
    )
    arch_refs = {}
    for arch in ("amd64", "arm64"):
        arch_ref = f"{registry.host}/{name}:{arch}"
        skopeo(
            "copy", "--format", "v2s2", "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{registry.host}/{name}@{multiarch_image.images[arch].manifest_digest}",
            f"docker://{arch_ref}",
        )  # fmt: skip
        arch_refs[arch] = arch_ref
    list_name = f"localhost/{name.replace('/', '-')}-list"
    podman("manifest", "create", list_name)
    for arch_ref in arch_refs.values():
        podman("manifest", "add", "--tls-verify=false", list_name, f"docker://{arch_ref}")
    list_ref = f"{registry.host}/{name}:list"
    podman(
        "manifest", "push", "--all", "--format", "v2s2", "--tls-verify=false",
        list_name, f"docker://{list_ref}",
    )  # fmt: skip
    body, media_type, list_digest = fetch_manifest(registry, name, "list")
    assert media_type == DOCKER_LIST
    manifest_list = json.loads(body)
    assert manifest_list["mediaType"] == DOCKER_LIST
    by_arch = {m["platform"]["architecture"]: m for m in manifest_list["manifests"]}
    assert set(by_arch) == {"amd64", "arm64"}
    for arch, entry in by_arch.items():
        assert entry["mediaType"] == DOCKER_MANIFEST
        arch_body, _, arch_digest = fetch_manifest(registry, name, arch)
        assert entry["digest"] == arch_digest == sha256_digest(arch_body)

    for arch in ("arm64", "amd64"):
        podman("pull", "--tls-verify=false", "--platform", f"linux/{arch}", list_ref)
        info = podman.inspect(list_ref)
        assert info["Architecture"] == arch
        assert info["Digest"] == list_digest
        assert sorted(info["RepoDigests"]) == sorted(
            f"{registry.host}/{name}@{d}" for d in (list_digest, by_arch[arch]["digest"])
        )
        podman("rmi", "--force", list_ref)
    podman("manifest", "rm", list_name)


def test_podman_import_push_pull(
    registry: Registry, repo: Any, rootfs_tarball: Path, podman: Podman, tmp_path: Path
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:imported"
    podman("import", "--message", "artifact-store test", rootfs_tarball, ref)
    image_id = podman.inspect(ref)["Id"]
    digest_file = tmp_path / "digest"
    podman("push", "--tls-verify=false", "--digestfile", digest_file, ref)
    pushed_digest = digest_file.read_text().strip()
    body, _, header_digest = fetch_manifest(registry, name, "imported")
    assert sha256_digest(body) == header_digest == pushed_digest

    podman("rmi", "--force", ref)
    assert podman("image", "exists", ref, check=False).returncode == 1
    podman("pull", "--tls-verify=false", ref)
    info = podman.inspect(ref)
    assert info["Id"] == image_id
    assert info["Digest"] == pushed_digest
    # Same root filesystem: podman pushes the layer it imported, podman pulls it back.
    assert json.loads(body)["config"]["digest"] == "sha256:" + image_id
    podman("rmi", "--force", ref)
