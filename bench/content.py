"""Test data: big blobs that are new content on every push, OCI image layouts, manifests."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAIL = 32
WRITE_PIECE = 8 << 20


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RenewableBlob:
    """A file of random bytes whose last 32 bytes change on `renew()`.

    Each push sends content no server has seen (no dedupe shortcut anywhere),
    streamed from the same file, which stays in the page cache. The sha256 of
    everything but the tail is computed once, so a new digest costs nothing.
    """

    def __init__(self, path: Path, size: int) -> None:
        assert size > TAIL
        self.path = path
        self.size = size
        write_random(path, size)
        self._prefix = hashlib.sha256()
        with open(path, "rb") as handle:
            remaining = size - TAIL
            while remaining:
                piece = handle.read(min(WRITE_PIECE, remaining))
                self._prefix.update(piece)
                remaining -= len(piece)
        self.digest = self.renew()

    def renew(self) -> str:
        tail = os.urandom(TAIL)
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, tail, self.size - TAIL)
        finally:
            os.close(fd)
        whole = self._prefix.copy()
        whole.update(tail)
        self.digest = "sha256:" + whole.hexdigest()
        return self.digest


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for start in range(0, size, WRITE_PIECE):
            handle.write(os.urandom(min(WRITE_PIECE, size - start)))


def config_blob(diff_ids: list[str]) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(config, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER_GZIP, layer) for layer in layers],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def random_layer(size: int) -> tuple[bytes, str]:
    """A gzip layer of random bytes (stored blocks: no client recompresses or deflates it)."""
    raw = os.urandom(size)
    return gzip.compress(raw, compresslevel=0, mtime=0), sha256(raw)


def write_oci_layout(root: Path, layer_count: int, layer_size: int, tag: str) -> int:
    """An OCI image layout with one tagged image of new random layers; returns its byte size."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for _ in range(layer_count):
        layer, diff_id = random_layer(layer_size)
        _write_blob(blobs, layer)
        layers.append(layer)
        diff_ids.append(diff_id)
    config = config_blob(diff_ids)
    manifest = image_manifest(config, layers)
    _write_blob(blobs, config)
    _write_blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                **descriptor(OCI_MANIFEST, manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps(index))
    return sum(map(len, layers)) + len(config) + len(manifest)


def _write_blob(directory: Path, data: bytes) -> None:
    (directory / sha256(data).removeprefix("sha256:")).write_bytes(data)
