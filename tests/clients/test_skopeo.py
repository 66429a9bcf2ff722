"""Scenario 2: skopeo with a 12-layer OCI image (gzip and zstd, one layer over 64 MiB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .commands import run, skopeo, tool
from .images import BIG_LAYER_SIZE, OciImage, file_digest, sha256_digest
from .live_registry import Registry, fetch_manifest, http_get

pytestmark = pytest.mark.clients


def layout_manifest_digest(layout: Path, tag: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return str(desc["digest"])
    raise AssertionError(f"tag {tag} not in {layout}/index.json: {index}")


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hex_digest


def test_skopeo_copy_big_image_round_trip(
    registry: Registry, repo: Any, tmp_path: Path, big_oci_image: OciImage
) -> None:
    image = big_oci_image
    media_types = {layer.descriptor["mediaType"] for layer in image.layers}
    assert len(image.layers) >= 10
    assert media_types == {
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
    }
    assert max(layer.descriptor["size"] for layer in image.layers) > BIG_LAYER_SIZE

    name = repo()
    ref = f"docker://{registry.host}/{name}:v1"
    skopeo("copy", "--dest-tls-verify=false", image.oci_ref, ref, timeout=900)

    # The registry serves the very manifest bytes that were pushed, and every blob.
    body, media_type, header_digest = fetch_manifest(registry, name, "v1")
    assert body == image.manifest_bytes
    assert header_digest == image.manifest_digest
    assert media_type == "application/vnd.oci.image.manifest.v1+json"

    # Back out to an OCI layout: same manifest digest, every blob byte for byte.
    out_oci = tmp_path / "out-oci"
    skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out_oci}:v1", timeout=900)
    assert layout_manifest_digest(out_oci, "v1") == image.manifest_digest
    for layer in image.layers:
        digest = layer.descriptor["digest"]
        assert file_digest(blob_path(out_oci, digest)) == digest
        assert blob_path(out_oci, digest).stat().st_size == layer.descriptor["size"]
    assert file_digest(blob_path(out_oci, image.config_digest)) == image.config_digest

    # And to a dir: layout (manifest.json plus one file per blob, named by hex digest).
    out_dir = tmp_path / "out-dir"
    skopeo("copy", "--src-tls-verify=false", ref, f"dir:{out_dir}", timeout=900)
    assert sha256_digest((out_dir / "manifest.json").read_bytes()) == image.manifest_digest
    for layer in image.layers:
        digest = layer.descriptor["digest"]
        assert file_digest(out_dir / digest.split(":", 1)[1]) == digest

    # skopeo inspect: the parsed view and the raw manifest.
    info = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert info["Digest"] == image.manifest_digest
    assert info["Layers"] == [layer.descriptor["digest"] for layer in image.layers]
    assert info["Architecture"] == "amd64"
    assert info["Labels"] == {"test": "artifact-store"}
    raw = skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    assert sha256_digest(raw) == image.manifest_digest
    config = json.loads(skopeo("inspect", "--tls-verify=false", "--config", "--raw", ref).stdout)
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in image.layers]


def test_skopeo_list_tags_and_delete(
    registry: Registry, repo: Any, small_oci_image: OciImage
) -> None:
    name = repo()
    base = f"docker://{registry.host}/{name}"
    for tag in ("a", "b", "c"):
        skopeo("copy", "--dest-tls-verify=false", small_oci_image.oci_ref, f"{base}:{tag}")
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", base).stdout)
    assert tags["Repository"] == f"{registry.host}/{name}"
    assert sorted(tags["Tags"]) == ["a", "b", "c"]

    # skopeo delete resolves the tag and deletes the manifest by digest: every tag on it goes.
    skopeo("delete", "--tls-verify=false", f"{base}:b")
    status, _, _ = http_get(registry, f"/v2/{name}/manifests/{small_oci_image.manifest_digest}")
    assert status == 404
    for tag in ("a", "b", "c"):
        result = skopeo("inspect", "--tls-verify=false", f"{base}:{tag}", check=False)
        assert result.returncode != 0, f"tag {tag} still resolves after delete"
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", base).stdout)
    assert tags["Tags"] == []


def test_skopeo_delete_by_digest_keeps_other_manifests(
    registry: Registry, repo: Any, small_oci_image: OciImage, multiarch_image: Any
) -> None:
    name = repo()
    base = f"docker://{registry.host}/{name}"
    skopeo("copy", "--dest-tls-verify=false", small_oci_image.oci_ref, f"{base}:keep")
    skopeo("copy", "--dest-tls-verify=false", "--all", multiarch_image.oci_ref, f"{base}:drop")
    skopeo("delete", "--tls-verify=false", f"{base}@{multiarch_image.index_digest}")
    status, _, _ = http_get(registry, f"/v2/{name}/manifests/drop")
    assert status == 404
    body, _, _ = fetch_manifest(registry, name, "keep")
    assert body == small_oci_image.manifest_bytes


def test_umoci_repack_round_trip(
    registry: Registry, repo: Any, tmp_path: Path, small_oci_image: OciImage
) -> None:
    """An image pulled to a layout by skopeo, changed with umoci (unpack, add a file, repack,
    relabel), pushed back by skopeo and pulled again: the new layer and config survive."""
    umoci = tool("umoci")
    name = repo()
    ref = f"docker://{registry.host}/{name}"
    skopeo("copy", "--dest-tls-verify=false", small_oci_image.oci_ref, f"{ref}:base")
    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", f"{ref}:base", f"oci:{layout}:base")
    assert run([umoci, "ls", "--layout", layout]).stdout.split() == ["base"]

    bundle = tmp_path / "bundle"
    run([umoci, "unpack", "--image", f"{layout}:base", bundle])
    assert (bundle / "rootfs" / "layer0" / "data.bin").stat().st_size == 20_000
    (bundle / "rootfs" / "added-by-umoci.txt").write_text("umoci\n")
    run([umoci, "repack", "--image", f"{layout}:changed", bundle])
    run([umoci, "config", "--image", f"{layout}:changed", "--config.label", "tool=umoci"])

    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:changed", f"{ref}:changed")
    changed = layout_manifest_digest(layout, "changed")
    body, _, digest = fetch_manifest(registry, name, "changed")
    assert digest == changed == sha256_digest(body)
    manifest = json.loads(body)
    assert len(manifest["layers"]) == len(small_oci_image.layers) + 1
    assert manifest["layers"][: len(small_oci_image.layers)] == [
        layer.descriptor for layer in small_oci_image.layers
    ]
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"{ref}:changed").stdout)
    assert info["Labels"]["tool"] == "umoci"

    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", f"{ref}:changed", f"oci:{back}:changed")
    run([umoci, "unpack", "--image", f"{back}:changed", tmp_path / "bundle2"])
    assert (tmp_path / "bundle2" / "rootfs" / "added-by-umoci.txt").read_text() == "umoci\n"
