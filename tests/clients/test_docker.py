"""Scenario 5 (docker's part): Debian's docker.io against a dockerd the tests start themselves."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from .commands import run, skopeo
from .engines import Dockerd
from .images import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, MultiArchImage, OciImage
from .live_registry import Registry, fetch_manifest
from .proxy import assert_blobs_not_resent

pytestmark = pytest.mark.clients


def pulled_digest(output: str) -> str:
    match = re.search(r"Digest: (sha256:[0-9a-f]{64})", output)
    assert match, f"no digest in docker pull output: {output}"
    return match.group(1)


def inspect(dockerd: Dockerd, ref: str) -> dict[str, Any]:
    data = json.loads(dockerd.docker("image", "inspect", ref).stdout)
    assert len(data) == 1
    return data[0]  # type: ignore[no-any-return]


def test_docker_pull_oci_image(
    registry: Registry, repo: Any, dockerd: Dockerd, small_oci_image: OciImage
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:oci"
    skopeo("copy", "--dest-tls-verify=false", small_oci_image.oci_ref, f"docker://{ref}")
    out = dockerd.docker("pull", ref).stdout
    assert pulled_digest(out) == small_oci_image.manifest_digest
    info = inspect(dockerd, ref)
    assert info["Id"] == small_oci_image.config_digest
    assert f"{registry.host}/{name}@{small_oci_image.manifest_digest}" in info["RepoDigests"]
    assert info["RootFS"]["Layers"] == [layer.diff_id for layer in small_oci_image.layers]
    dockerd.docker("rmi", "--force", ref)


def daemon_major(dockerd: Dockerd) -> int:
    version = dockerd.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    return int(version.split(".", 1)[0])


def test_docker_pull_big_oci_image(
    registry: Registry, repo: Any, dockerd: Dockerd, big_oci_image: OciImage
) -> None:
    """The 12-layer image with its 64 MiB layer. dockerd before 23.0 cannot unpack zstd layers
    (it downloads and verifies them, then fails with "archive/tar: invalid tar header"), so for
    those the zstd layers are recompressed to gzip by skopeo on the way in."""
    name = repo()
    ref = f"{registry.host}/{name}:big"
    convert = (
        [] if daemon_major(dockerd) >= 23 else ["--dest-compress", "--dest-compress-format", "gzip"]
    )
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        *convert,
        big_oci_image.oci_ref,
        f"docker://{ref}",
        timeout=900,
    )
    body, _, digest = fetch_manifest(registry, name, "big")
    if not convert:
        assert digest == big_oci_image.manifest_digest
    out = dockerd.docker("pull", ref, timeout=900).stdout
    assert pulled_digest(out) == digest
    info = inspect(dockerd, ref)
    assert info["Id"] == big_oci_image.config_digest == json.loads(body)["config"]["digest"]
    assert info["RootFS"]["Layers"] == [layer.diff_id for layer in big_oci_image.layers]
    dockerd.docker("rmi", "--force", ref)


def test_docker_pull_schema2_image(
    registry: Registry, repo: Any, dockerd: Dockerd, small_oci_image: OciImage
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:v2s2"
    skopeo(
        "copy", "--format", "v2s2", "--dest-tls-verify=false", small_oci_image.oci_ref, f"docker://{ref}"
    )  # fmt: skip
    body, media_type, digest = fetch_manifest(registry, name, "v2s2")
    assert media_type == DOCKER_MANIFEST
    out = dockerd.docker("pull", ref).stdout
    assert pulled_digest(out) == digest
    info = inspect(dockerd, ref)
    assert info["Id"] == json.loads(body)["config"]["digest"]
    assert info["RootFS"]["Layers"] == [layer.diff_id for layer in small_oci_image.layers]
    dockerd.docker("rmi", "--force", ref)


def test_docker_pull_multiarch_platform(
    registry: Registry, repo: Any, dockerd: Dockerd, multiarch_image: MultiArchImage
) -> None:
    name = repo()
    ref = f"{registry.host}/{name}:multi"
    skopeo("copy", "--all", "--dest-tls-verify=false", multiarch_image.oci_ref, f"docker://{ref}")
    for arch in ("arm64", "amd64"):
        out = dockerd.docker("pull", "--platform", f"linux/{arch}", ref).stdout
        assert pulled_digest(out) == multiarch_image.index_digest
        info = inspect(dockerd, ref)
        assert info["Architecture"] == arch
        assert info["Id"] == multiarch_image.images[arch].config_digest
        dockerd.docker("rmi", "--force", ref)


def test_docker_tag_push_mounts_into_another_repository(
    recorded_registry: Registry, repo: Any, dockerd: Dockerd, small_oci_image: OciImage
) -> None:
    registry = recorded_registry
    assert registry.recorder is not None
    source = repo("src")
    src_ref = f"{registry.host}/{source}:v1"
    skopeo(
        "copy", "--format", "v2s2", "--dest-tls-verify=false", small_oci_image.oci_ref, f"docker://{src_ref}"
    )  # fmt: skip
    dockerd.docker("pull", src_ref)

    dest = repo("dst")
    dest_ref = f"{registry.host}/{dest}:pushed"
    dockerd.docker("tag", src_ref, dest_ref)
    registry.recorder.clear()
    out = dockerd.docker("push", dest_ref).stdout
    pushed = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert pushed, out

    # dockerd knows the layers came from the source repository and mounts them.
    layer_digests = [layer.descriptor["digest"] for layer in small_oci_image.layers]
    assert_blobs_not_resent(registry, dest, set(layer_digests))

    body, media_type, digest = fetch_manifest(registry, dest, "pushed")
    assert digest == pushed.group(1)
    assert media_type == DOCKER_MANIFEST
    assert [layer["digest"] for layer in json.loads(body)["layers"]] == layer_digests

    dockerd.docker("rmi", "--force", src_ref, dest_ref)
    dockerd.docker("pull", dest_ref)
    assert inspect(dockerd, dest_ref)["RootFS"]["Layers"] == [
        layer.diff_id for layer in small_oci_image.layers
    ]
    dockerd.docker("rmi", "--force", dest_ref)


def test_docker_manifest_inspect(
    registry: Registry,
    repo: Any,
    dockerd: Dockerd,
    multiarch_image: MultiArchImage,
    small_oci_image: OciImage,
) -> None:
    """`docker manifest inspect` on a Docker manifest list and a schema2 image (the CLI talks to
    the registry itself). Debian's docker 20.10 CLI cannot parse OCI image manifests here
    ("unsupported manifest media type"): the OCI case is test_docker_manifest_inspect_oci."""
    name = repo()
    list_ref = f"{registry.host}/{name}:list"
    skopeo(
        "copy", "--all", "--format", "v2s2", "--dest-tls-verify=false",
        multiarch_image.oci_ref, f"docker://{list_ref}",
    )  # fmt: skip
    _, media_type, _ = fetch_manifest(registry, name, "list")
    assert media_type == DOCKER_LIST
    manifest_list = json.loads(dockerd.docker("manifest", "inspect", "--insecure", list_ref).stdout)
    assert manifest_list["mediaType"] == DOCKER_LIST
    by_arch = {m["platform"]["architecture"]: m["digest"] for m in manifest_list["manifests"]}
    assert set(by_arch) == {"amd64", "arm64"}
    for digest in by_arch.values():
        _, _, arch_digest = fetch_manifest(registry, name, digest)
        assert arch_digest == digest

    verbose = json.loads(
        dockerd.docker("manifest", "inspect", "--insecure", "--verbose", list_ref).stdout
    )
    assert {v["Descriptor"]["platform"]["architecture"] for v in verbose} == {"amd64", "arm64"}
    for entry in verbose:
        layers = [layer["digest"] for layer in entry["SchemaV2Manifest"]["layers"]]
        arch = entry["Descriptor"]["platform"]["architecture"]
        assert layers == [
            layer.descriptor["digest"] for layer in multiarch_image.images[arch].layers
        ]

    single_ref = f"{registry.host}/{name}:single"
    skopeo(
        "copy", "--format", "v2s2", "--dest-tls-verify=false", small_oci_image.oci_ref,
        f"docker://{single_ref}",
    )  # fmt: skip
    _, _, digest = fetch_manifest(registry, name, "single")
    single = json.loads(
        dockerd.docker("manifest", "inspect", "--insecure", "--verbose", single_ref).stdout
    )
    assert single["Descriptor"]["digest"] == digest
    assert [layer["digest"] for layer in single["SchemaV2Manifest"]["layers"]] == [
        layer.descriptor["digest"] for layer in small_oci_image.layers
    ]


def newer_docker_cli() -> str | None:
    """A docker CLI of 23.0 or later on PATH, if any (Debian 12's docker.io is 20.10)."""
    for candidate in dict.fromkeys(
        [shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"]
    ):
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        out = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        match = re.search(r"version (\d+)\.", out)
        if match and int(match.group(1)) >= 23:
            return candidate
    return None


def test_docker_manifest_inspect_oci(
    registry: Registry,
    repo: Any,
    dockerd: Dockerd,
    multiarch_image: MultiArchImage,
    small_oci_image: OciImage,
) -> None:
    cli = newer_docker_cli()
    if cli is None:
        pytest.skip("docker 20.10's CLI cannot parse OCI manifests in `docker manifest inspect`")
    name = repo()
    multi_ref = f"{registry.host}/{name}:multi"
    skopeo(
        "copy", "--all", "--dest-tls-verify=false", multiarch_image.oci_ref, f"docker://{multi_ref}"
    )
    env = {**dockerd.env}
    index = json.loads(run([cli, "manifest", "inspect", "--insecure", multi_ref], env=env).stdout)
    assert index["mediaType"] == OCI_INDEX
    assert {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]} == {
        arch: image.manifest_digest for arch, image in multiarch_image.images.items()
    }

    single_ref = f"{registry.host}/{name}:single"
    skopeo("copy", "--dest-tls-verify=false", small_oci_image.oci_ref, f"docker://{single_ref}")
    verbose = json.loads(
        run([cli, "manifest", "inspect", "--insecure", "--verbose", single_ref], env=env).stdout
    )
    assert verbose["Descriptor"]["digest"] == small_oci_image.manifest_digest
    assert [layer["digest"] for layer in verbose["OCIManifest"]["layers"]] == [
        layer.descriptor["digest"] for layer in small_oci_image.layers
    ]
