"""Builders for blobs and manifests used by the HTTP tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import blake3
from starlette.testclient import TestClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def b3(data: bytes) -> str:
    return "blake3:" + blake3.blake3(data).hexdigest()


def descriptor(
    data: bytes, media_type: str = "application/octet-stream", **extra: Any
) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def push_blob(client: TestClient, repo: str, data: bytes) -> str:
    digest = sha256(data)
    response = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data)
    assert response.status_code == 201, response.text
    return digest


def image(config: bytes, *layers: bytes, **extra: Any) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [descriptor(layer, "application/vnd.oci.image.layer.v1.tar") for layer in layers],
        **extra,
    }
    return json.dumps(body).encode()


def push_image(
    client: TestClient, repo: str, tag: str, *layers: bytes, **extra: Any
) -> tuple[str, bytes]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in (config, *layers):
        push_blob(client, repo, blob)
    body = image(config, *layers, **extra)
    response = client.put(
        f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], body
