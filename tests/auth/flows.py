"""Authenticated pushes and token requests through a TestClient or an httpx client."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import httpx

from tests.registry.helpers import OCI_MANIFEST, descriptor, image

from .helpers import SERVICE

Headers = dict[str, str]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def token(client: httpx.Client, user: str | None, password: str, *scopes: str) -> str:
    auth = (user, password) if user else None
    params: list[tuple[str, str | int | float | bool | None]] = [("service", SERVICE)]
    params += [("scope", s) for s in scopes]
    response = client.get("/token", params=params, auth=auth)
    assert response.status_code == 200, response.text
    issued: str = response.json()["token"]
    return issued


def basic(user: str, password: str) -> Headers:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(value: str) -> Headers:
    return {"Authorization": f"Bearer {value}"}


def push_blob(client: httpx.Client, repo: str, data: bytes, headers: Headers) -> str:
    digest = sha256(data)
    response = client.post(
        f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data, headers=headers
    )
    assert response.status_code == 201, response.text
    return digest


def push_image(
    client: httpx.Client, repo: str, tag: str, headers: Headers, **extra: Any
) -> tuple[str, bytes]:
    """An image with a unique config and one layer; returns (manifest digest, manifest)."""
    config = json.dumps({"os": "linux", "architecture": "amd64", "id": uuid.uuid4().hex}).encode()
    layer = f"layer {uuid.uuid4()}".encode()
    for blob in (config, layer):
        push_blob(client, repo, blob, headers)
    body = image(config, layer, **extra)
    response = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=body,
        headers={**headers, "Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], body


def push_referrer(client: httpx.Client, repo: str, subject: bytes, headers: Headers) -> str:
    return push_image(
        client,
        repo,
        f"ref-{uuid.uuid4().hex[:8]}",
        headers,
        subject=descriptor(subject, OCI_MANIFEST),
        artifactType="application/vnd.example.sbom",
    )[0]
