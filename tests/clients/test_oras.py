"""Scenario 1: the `oras` CLI and the `oras` Python package."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .commands import run, run_json, tool
from .images import OciImage, sha256_digest
from .live_registry import Registry, fetch_manifest, http_get

pytestmark = pytest.mark.clients

ARTIFACT_TYPE = "application/vnd.artifact-store.test.bundle.v1"
SIGNATURE_TYPE = "application/vnd.artifact-store.test.signature.v1"
SBOM_TYPE = "application/spdx+json"


def oras(*args: str | Path, **kwargs: Any) -> Any:
    return run([tool("oras"), *args], **kwargs)


def make_files(directory: Path) -> dict[str, bytes]:
    files = {
        "readme.txt": b"artifact-store oras round trip\n",
        "data.bin": os.urandom(3 * 1024 * 1024 + 17),
        "config.json": json.dumps({"answer": 42}).encode(),
        "empty.dat": b"",
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def test_oras_push_pull_fetch_tags(registry: Registry, repo: Any, tmp_path: Path) -> None:
    name = repo()
    src = tmp_path / "src"
    src.mkdir()
    files = make_files(src)
    (tmp_path / "annotations.json").write_text(
        json.dumps(
            {
                "$manifest": {
                    "org.opencontainers.image.description": "from an annotation file",
                    "com.example.owner": "artifact-store",
                },
                "data.bin": {"com.example.part": "payload"},
            }
        )
    )
    ref = f"{registry.host}/{name}:v1"
    pushed = run_json(
        [
            tool("oras"), "push", "--plain-http", "--format", "json",
            "--artifact-type", ARTIFACT_TYPE,
            "--annotation-file", tmp_path / "annotations.json",
            f"{ref},v1-alias",
            "readme.txt:text/plain",
            "data.bin:application/octet-stream",
            "config.json:application/json",
            "empty.dat",
        ],
        cwd=src,
    )  # fmt: skip

    # The manifest as the registry has it, and as `oras manifest fetch` shows it.
    body, media_type, header_digest = fetch_manifest(registry, name, "v1")
    assert sha256_digest(body) == pushed["digest"] == header_digest
    assert media_type == "application/vnd.oci.image.manifest.v1+json"
    fetched = oras("manifest", "fetch", "--plain-http", ref).stdout.encode()
    assert json.loads(fetched) == json.loads(body)
    manifest = json.loads(body)
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["annotations"]["com.example.owner"] == "artifact-store"
    assert (
        manifest["annotations"]["org.opencontainers.image.description"] == "from an annotation file"
    )
    by_title = {
        layer["annotations"]["org.opencontainers.image.title"]: layer
        for layer in manifest["layers"]
    }
    assert set(by_title) == set(files)
    assert by_title["readme.txt"]["mediaType"] == "text/plain"
    assert by_title["data.bin"]["annotations"]["com.example.part"] == "payload"
    for file_name, data in files.items():
        assert by_title[file_name]["digest"] == sha256_digest(data)
        assert by_title[file_name]["size"] == len(data)
    descriptor = json.loads(oras("manifest", "fetch", "--plain-http", "--descriptor", ref).stdout)
    assert descriptor["digest"] == pushed["digest"]
    assert descriptor["size"] == len(body)

    # Pull it back, byte for byte, by tag and by digest.
    for pull_ref in (
        f"{registry.host}/{name}:v1-alias",
        f"{registry.host}/{name}@{pushed['digest']}",
    ):
        out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
        oras("pull", "--plain-http", "-o", out, pull_ref)
        for file_name, data in files.items():
            assert (out / file_name).read_bytes() == data, file_name

    tags = oras("repo", "tags", "--plain-http", f"{registry.host}/{name}").stdout.split()
    assert sorted(tags) == ["v1", "v1-alias"]


def test_oras_attach_and_discover(
    registry: Registry, repo: Any, tmp_path: Path, small_oci_image: OciImage
) -> None:
    name = repo()
    image_ref = f"{registry.host}/{name}:app"
    oras(
        "cp", "--from-oci-layout", "--to-plain-http",
        f"{small_oci_image.layout}:{small_oci_image.tag}", image_ref,
    )  # fmt: skip
    body, _, _ = fetch_manifest(registry, name, "app")
    assert sha256_digest(body) == small_oci_image.manifest_digest
    subject = f"{registry.host}/{name}@{small_oci_image.manifest_digest}"

    (tmp_path / "signature.json").write_text(
        json.dumps({"signed": small_oci_image.manifest_digest})
    )
    (tmp_path / "sbom.spdx.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "app"}))
    attached = {}
    for artifact_type, file_name in (
        (SIGNATURE_TYPE, "signature.json"),
        (SBOM_TYPE, "sbom.spdx.json"),
    ):
        result = run_json(
            [
                tool("oras"), "attach", "--plain-http", "--format", "json",
                "--artifact-type", artifact_type,
                "--annotation", f"com.example.kind={file_name}",
                subject, f"{file_name}:application/json",
            ],
            cwd=tmp_path,
        )  # fmt: skip
        attached[artifact_type] = result["digest"]

    # The referrers API itself lists both, with their artifact types and annotations.
    status, headers, data = http_get(
        registry, f"/v2/{name}/referrers/{small_oci_image.manifest_digest}", accept="*/*"
    )
    assert status == 200, f"referrers API: {status} {data[:500]!r}"
    assert headers.get("content-type", "").startswith("application/vnd.oci.image.index.v1+json")
    index = json.loads(data)
    listed = {m["artifactType"]: m for m in index["manifests"]}
    assert {t: m["digest"] for t, m in listed.items()} == attached
    assert listed[SBOM_TYPE]["annotations"]["com.example.kind"] == "sbom.spdx.json"

    # Filtered by artifact type.
    status, headers, data = http_get(
        registry,
        f"/v2/{name}/referrers/{small_oci_image.manifest_digest}?artifactType={quote(SBOM_TYPE)}",
        accept="*/*",
    )
    assert status == 200
    filtered = json.loads(data)["manifests"]
    assert [m["digest"] for m in filtered] == [attached[SBOM_TYPE]]

    # `oras discover`, forced onto the referrers API (no tag-schema fallback).
    found = run_json(
        [
            tool("oras"), "discover", "--plain-http", "--format", "json",
            "--distribution-spec", "v1.1-referrers-api", subject,
        ]
    )  # fmt: skip
    referrers = found.get("referrers", found.get("manifests", []))
    assert {r["artifactType"]: r["digest"] for r in referrers} == attached

    # The attached artifacts pull back.
    out = tmp_path / "sig-out"
    oras("pull", "--plain-http", "-o", out, f"{registry.host}/{name}@{attached[SIGNATURE_TYPE]}")
    assert (out / "signature.json").read_bytes() == (tmp_path / "signature.json").read_bytes()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_oras_python_round_trip(registry: Registry, repo: Any, tmp_path: Path) -> None:
    oras_client = pytest.importorskip("oras.client")
    name = repo()
    src = tmp_path / "src"
    src.mkdir()
    files = make_files(src)
    client = oras_client.OrasClient(hostname=registry.host, insecure=True)
    target = f"{registry.host}/{name}:py"
    response = client.push(
        target=target,
        files=[f"{src / 'readme.txt'}:text/plain", str(src / "data.bin"), str(src / "config.json")],
        manifest_annotations={"com.example.client": "oras-py"},
        disable_path_validation=True,
        quiet=True,
    )
    assert response.status_code == 201, response.text

    manifest = client.get_manifest(target)
    assert manifest["annotations"]["com.example.client"] == "oras-py"
    digests = {
        layer["annotations"]["org.opencontainers.image.title"]: layer["digest"]
        for layer in manifest["layers"]
    }
    assert digests == {
        n: sha256_digest(files[n]) for n in ("readme.txt", "data.bin", "config.json")
    }

    out = tmp_path / "out"
    pulled = client.pull(target=target, outdir=str(out))
    assert sorted(Path(p).name for p in pulled) == ["config.json", "data.bin", "readme.txt"]
    for file_name in ("readme.txt", "data.bin", "config.json"):
        assert (out / file_name).read_bytes() == files[file_name]
    assert client.get_tags(f"{registry.host}/{name}") == ["py"]
