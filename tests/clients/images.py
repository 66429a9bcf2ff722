"""Test images as files: media types, digests, layer tarballs and OCI image layouts
(oci-layout, index.json, blobs/sha256/...) that clients push from."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

MIB = 1024 * 1024
BIG_LAYER_SIZE = 64 * MIB + 123_457  # just over 64 MiB

_CREATED = "2024-01-01T00:00:00Z"
_TAR_MTIME = 1_700_000_000


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@dataclass
class Layer:
    descriptor: dict[str, Any]
    diff_id: str


@dataclass
class OciImage:
    layout: Path
    tag: str
    manifest_digest: str
    manifest: dict[str, Any]
    manifest_bytes: bytes
    config_digest: str
    layers: list[Layer]
    architecture: str = "amd64"

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


@dataclass
class MultiArchImage:
    layout: Path
    tag: str
    index_digest: str
    index: dict[str, Any]
    index_bytes: bytes
    images: dict[str, OciImage] = field(default_factory=dict)  # by architecture

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


class OciLayoutWriter:
    """Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.index: dict[str, Any] = {"schemaVersion": 2, "manifests": []}

    def add_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        (self.path / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    def tag(self, descriptor: dict[str, Any], name: str) -> None:
        desc = dict(descriptor)
        desc["annotations"] = {
            **desc.get("annotations", {}),
            "org.opencontainers.image.ref.name": name,
        }
        self.index["manifests"].append(desc)
        (self.path / "index.json").write_text(json.dumps(self.index, indent=2))

    def add_layer(self, files: dict[str, bytes], compression: str) -> Layer:
        tar_bytes = make_tar(files)
        blob, media_type = _compress_layer(tar_bytes, compression)
        digest = self.add_blob(blob)
        return Layer(
            {"mediaType": media_type, "digest": digest, "size": len(blob)}, sha256_digest(tar_bytes)
        )

    def add_image(
        self,
        layers: list[Layer],
        architecture: str = "amd64",
        annotations: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], bytes, str]:
        """Writes the config and the manifest of an image of these layers.

        Returns (manifest descriptor, manifest, manifest bytes, config digest)."""
        config_bytes = json.dumps(_image_config(layers, architecture), sort_keys=True).encode()
        config_digest = self.add_blob(config_bytes)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [layer.descriptor for layer in layers],
        }
        if annotations:
            manifest["annotations"] = annotations
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        digest = self.add_blob(manifest_bytes)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest_bytes)}
        return descriptor, manifest, manifest_bytes, config_digest


def _image_config(layers: list[Layer], architecture: str) -> dict[str, Any]:
    """A linux image config running /bin/sh, one history entry per layer."""
    return {
        "created": _CREATED,
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": {"test": "artifact-store"},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": _CREATED, "created_by": f"layer {i}"} for i in range(len(layers))],
    }


def _compress_layer(tar_bytes: bytes, compression: str) -> tuple[bytes, str]:
    """(compressed blob, layer media type) for "gzip" or "zstd"."""
    if compression == "gzip":
        return gzip.compress(tar_bytes, compresslevel=1, mtime=0), OCI_LAYER_GZIP
    if compression == "zstd":
        return _zstd_compress(tar_bytes), OCI_LAYER_ZSTD
    raise ValueError(compression)


def _zstd_compress(data: bytes) -> bytes:
    zstd = shutil.which("zstd")
    if zstd is None:
        pytest.fail("zstd is needed to build zstd layers (run `make clients`)")
    command = [zstd, "-q", "-3", "-c"]
    return subprocess.run(command, input=data, capture_output=True, check=True, timeout=120).stdout


def make_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed PAX tarball of these files, their parent directories first."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name in files if str(Path(name).parent) != "."})
        for d in dirs:
            tar.addfile(_tar_entry(d, tarfile.DIRTYPE, 0o755))
        for name, data in files.items():
            info = _tar_entry(name, tarfile.REGTYPE, 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = _TAR_MTIME
    return info


def build_image(
    path: Path,
    layer_specs: list[tuple[int, str]],
    tag: str = "latest",
    architecture: str = "amd64",
) -> OciImage:
    """An OCI layout with one image: one layer per (random-bytes size, compression)."""
    writer = OciLayoutWriter(path)
    layers = [
        writer.add_layer(_random_layer_files(i, size, architecture, compression), compression)
        for i, (size, compression) in enumerate(layer_specs)
    ]
    descriptor, manifest, manifest_bytes, config_digest = writer.add_image(layers, architecture)
    writer.tag(descriptor, tag)
    return OciImage(
        path,
        tag,
        descriptor["digest"],
        manifest,
        manifest_bytes,
        config_digest,
        layers,
        architecture,
    )


def _random_layer_files(
    index: int, size: int, architecture: str, compression: str
) -> dict[str, bytes]:
    return {
        f"layer{index}/data.bin": os.urandom(size),
        f"layer{index}/info.txt": f"layer {index} {architecture} {compression}\n".encode(),
    }
