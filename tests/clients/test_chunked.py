"""Scenario 9: chunked and streamed blob uploads, seen through a recording proxy.

regctl (small --blob-chunk) and the oras Python package (do_chunked) send many PATCH requests
with Content-Range; crane and skopeo stream a whole layer in one chunked-encoded PATCH; the oras
CLI uploads many blobs at once (--concurrency)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from .commands import run, skopeo, tool
from .images import build_image, sha256_digest
from .live_registry import Registry, fetch_manifest
from .proxy import RecordedRequest

pytestmark = pytest.mark.clients

CHUNK = 256 * 1024


def upload_patches(registry: Registry, repo: str) -> list[RecordedRequest]:
    assert registry.recorder is not None
    return registry.recorder.matching("PATCH", rf"^/v2/{repo}/blobs/uploads/")


def session_of(request: RecordedRequest) -> str:
    return request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def blob_upload(registry: Registry, repo: str, digest: str) -> list[RecordedRequest]:
    """The PATCHes of the upload session that the (single, 201) PUT ?digest=<digest> closed."""
    assert registry.recorder is not None
    puts = [
        r
        for r in registry.recorder.matching("PUT", rf"^/v2/{repo}/blobs/uploads/")
        if f"digest={digest}" in r.path.replace("%3A", ":")
    ]
    assert len(puts) == 1 and puts[0].status == 201, [str(p) for p in puts]
    session = session_of(puts[0])
    return [p for p in upload_patches(registry, repo) if session_of(p) == session]


def assert_contiguous_chunks(patches: list[RecordedRequest], total: int) -> None:
    """The PATCHes of one upload carry consecutive Content-Ranges covering 0..total-1, and the
    registry acknowledged each with 202 and a Range of everything received so far."""
    offset = 0
    for patch in patches:
        assert patch.status == 202, str(patch)
        content_range = patch.request_headers.get("content-range", "")
        match = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?", content_range)
        assert match, f"PATCH without a usable Content-Range: {patch}"
        start, end = int(match.group(1)), int(match.group(2))
        assert start == offset, f"chunk starts at {start}, expected {offset}: {patch}"
        assert end - start + 1 == patch.request_body_len, str(patch)
        assert patch.response_headers.get("range") == f"0-{end}", (
            f"Range after chunk: {patch.response_headers.get('range')!r}, expected '0-{end}'"
        )
        assert "location" in patch.response_headers, str(patch)
        offset = end + 1
    assert offset == total, f"chunks cover {offset} of {total} bytes"


def test_regctl_small_chunks(recorded_registry: Registry, repo: Any, tmp_path: Path) -> None:
    registry = recorded_registry
    config_dir = tmp_path / "regctl"
    env = {"REGCTL_CONFIG": str(config_dir / "config.json"), "HOME": str(config_dir)}
    regctl = [tool("regctl")]
    run(
        [*regctl, "registry", "set", registry.host, "--tls", "disabled", "--skip-check",
         "--blob-chunk", str(CHUNK), "--blob-max", "1"],
        env=env,
    )  # fmt: skip
    payload = os.urandom(5 * CHUNK + 12345)
    (tmp_path / "blob.bin").write_bytes(payload)
    name = repo()
    ref = f"{registry.host}/{name}:chunked"
    run(
        [*regctl, "artifact", "put",
         "--artifact-type", "application/vnd.artifact-store.test.chunked",
         "--file", "blob.bin", "--file-media-type", "application/octet-stream",
         "--file-title", ref],
        env=env,
        cwd=tmp_path,
    )  # fmt: skip
    patches = blob_upload(registry, name, sha256_digest(payload))
    # regctl honours a larger OCI-Chunk-Min-Length from the registry, so count from the sizes sent.
    assert len(patches) >= 2, [str(p) for p in patches]
    assert_contiguous_chunks(patches, len(payload))

    out = tmp_path / "out"
    out.mkdir()
    run([*regctl, "artifact", "get", "--output", out, ref], env=env)
    assert (out / "blob.bin").read_bytes() == payload


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_oras_python_chunked(recorded_registry: Registry, repo: Any, tmp_path: Path) -> None:
    oras_client = pytest.importorskip("oras.client")
    registry = recorded_registry
    payload = os.urandom(4 * CHUNK + 999)
    path = tmp_path / "chunked.bin"
    path.write_bytes(payload)
    name = repo()
    client = oras_client.OrasClient(hostname=registry.host, insecure=True)
    target = f"{registry.host}/{name}:chunked"
    response = client.push(
        target=target,
        files=[str(path)],
        disable_path_validation=True,
        do_chunked=True,
        chunk_size=CHUNK,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    patches = blob_upload(registry, name, sha256_digest(payload))
    assert len(patches) == 5, [str(p) for p in patches]
    assert_contiguous_chunks(patches, len(payload))

    out = tmp_path / "out"
    client.pull(target=target, outdir=str(out))
    assert (out / "chunked.bin").read_bytes() == payload


@pytest.mark.parametrize("client", ["crane", "skopeo"])
def test_streamed_layer_upload(
    recorded_registry: Registry, repo: Any, tmp_path: Path, client: str
) -> None:
    """crane and skopeo send a layer as one streamed PATCH, then PUT ?digest=. A fresh image per
    run, so no layer can already be in the registry (some registries answer HEAD for any repo)."""
    registry = recorded_registry
    image = build_image(tmp_path / "layout", [(12 * 1024 * 1024, "gzip"), (40_000, "zstd")])
    big = image.layers[0]
    name = repo()
    ref = f"{registry.host}/{name}:streamed"
    if client == "crane":
        run([tool("crane"), "--insecure", "push", image.layout, ref], timeout=600)
    else:
        skopeo("copy", "--dest-tls-verify=false", image.oci_ref, f"docker://{ref}", timeout=600)
    body, _, digest = fetch_manifest(registry, name, "streamed")
    assert body == image.manifest_bytes
    assert digest == image.manifest_digest
    for layer in image.layers:
        patches = blob_upload(registry, name, layer.descriptor["digest"])
        assert patches, f"{client}: {layer.descriptor['digest']} was not sent with PATCH"
        assert_streamed(patches, layer.descriptor["size"])
    assert (
        sum(p.request_body_len for p in blob_upload(registry, name, big.descriptor["digest"]))
        == (big.descriptor["size"])
    )


def assert_streamed(patches: list[RecordedRequest], total: int) -> None:
    """PATCHes without Content-Range (streamed): each 202 with a Range of all bytes so far."""
    received = 0
    for patch in patches:
        assert patch.status == 202, str(patch)
        received += patch.request_body_len
        assert patch.response_headers.get("range") == f"0-{received - 1}", str(patch)
    assert received == total


def test_oras_concurrent_uploads(recorded_registry: Registry, repo: Any, tmp_path: Path) -> None:
    registry = recorded_registry
    src = tmp_path / "src"
    src.mkdir()
    files = {f"part-{i:02d}.bin": os.urandom(200_000 + i * 1000) for i in range(16)}
    for file_name, data in files.items():
        (src / file_name).write_bytes(data)
    name = repo()
    ref = f"{registry.host}/{name}:many"
    pushed = json.loads(
        run(
            [
                tool("oras"),
                "push",
                "--plain-http",
                "--concurrency",
                "8",
                "--format",
                "json",
                ref,
                *files,
            ],
            cwd=src,
        ).stdout
    )
    body, _, digest = fetch_manifest(registry, name, "many")
    assert digest == pushed["digest"]
    assert sorted(layer["digest"] for layer in json.loads(body)["layers"]) == sorted(
        sha256_digest(d) for d in files.values()
    )
    uploads = registry.recorder.matching("POST", rf"^/v2/{name}/blobs/uploads/")  # type: ignore[union-attr]
    assert len(uploads) >= len(files) and all(u.status == 202 for u in uploads)

    out = tmp_path / "out"
    run([tool("oras"), "pull", "--plain-http", "--concurrency", "8", "-o", out, ref])
    for file_name, data in files.items():
        assert (out / file_name).read_bytes() == data
