"""Malformed requests: each gets a 4xx with the right OCI code and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.registry.helpers import OCI_INDEX, OCI_MANIFEST, descriptor, push_image, sha256

GOOD = sha256(b"x")
LONG_NAME = "/".join(["a" * 50] * 6)  # 305 characters
IMAGE = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(b"{}", "application/vnd.oci.image.config.v1+json"),
        "layers": [],
    }
).encode()


def manifest_with(**changes: object) -> bytes:
    body = json.loads(IMAGE)
    body.update(changes)
    return json.dumps(body).encode()


CASES = [
    pytest.param("GET", "/v2/UPPER/tags/list", {}, b"", 400, "NAME_INVALID", id="uppercase-name"),
    pytest.param("GET", "/v2/a..b/tags/list", {}, b"", 400, "NAME_INVALID", id="double-dot-name"),
    pytest.param(
        "GET", f"/v2/{LONG_NAME}/tags/list", {}, b"", 400, "NAME_INVALID", id="name-too-long"
    ),
    pytest.param("GET", "/v2/-a/blobs/" + GOOD, {}, b"", 400, "NAME_INVALID", id="leading-dash"),
    pytest.param(
        "GET", "/v2/a/blobs/sha256:abc", {}, b"", 400, "DIGEST_INVALID", id="short-digest"
    ),
    pytest.param(
        "GET", "/v2/a/blobs/md5:" + "0" * 32, {}, b"", 400, "DIGEST_INVALID", id="unknown-algorithm"
    ),
    pytest.param(
        "GET", "/v2/a/blobs/sha256:" + "A" * 64, {}, b"", 400, "DIGEST_INVALID", id="upper-hex"
    ),
    pytest.param("GET", "/v2/a/blobs/nodigest", {}, b"", 400, "DIGEST_INVALID", id="not-a-digest"),
    pytest.param("GET", "/v2/a/blobs/" + GOOD, {}, b"", 404, "BLOB_UNKNOWN", id="unknown-blob"),
    pytest.param(
        "DELETE", "/v2/a/blobs/" + GOOD, {}, b"", 404, "BLOB_UNKNOWN", id="delete-unknown-blob"
    ),
    pytest.param(
        "GET", "/v2/a/manifests/" + "t" * 129, {}, b"", 404, "MANIFEST_UNKNOWN", id="tag-too-long"
    ),
    pytest.param(
        "GET", "/v2/a/manifests/.bad", {}, b"", 404, "MANIFEST_UNKNOWN", id="tag-leading-dot"
    ),
    pytest.param(
        "GET", "/v2/a/manifests/latest", {}, b"", 404, "MANIFEST_UNKNOWN", id="unknown-tag"
    ),
    pytest.param(
        "GET", "/v2/a/manifests/" + GOOD, {}, b"", 404, "MANIFEST_UNKNOWN", id="unknown-digest"
    ),
    pytest.param(
        "GET", "/v2/a/manifests/sha256:zz", {}, b"", 400, "DIGEST_INVALID", id="bad-manifest-digest"
    ),
    pytest.param(
        "DELETE",
        "/v2/a/manifests/latest",
        {},
        b"",
        404,
        "MANIFEST_UNKNOWN",
        id="delete-unknown-tag",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        b"{not json",
        400,
        "MANIFEST_INVALID",
        id="invalid-json",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        b"[]",
        400,
        "MANIFEST_INVALID",
        id="json-array",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        b"\xff\xfe",
        400,
        "MANIFEST_INVALID",
        id="not-utf8",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_INDEX},
        IMAGE,
        400,
        "MANIFEST_INVALID",
        id="content-type-contradicts",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        manifest_with(schemaVersion=1),
        400,
        "MANIFEST_INVALID",
        id="schema-version-1",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        manifest_with(layers=[{"mediaType": "a/b", "digest": "sha256:1", "size": 1}]),
        400,
        "MANIFEST_INVALID",
        id="descriptor-bad-digest",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        manifest_with(layers=[{"mediaType": "a/b", "digest": GOOD, "size": -1}]),
        400,
        "MANIFEST_INVALID",
        id="descriptor-negative-size",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        manifest_with(layers=[{"mediaType": "a/b", "digest": GOOD, "size": "1"}]),
        400,
        "MANIFEST_INVALID",
        id="descriptor-string-size",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        b" " * (4 * 1024 * 1024 + 1),
        413,
        "SIZE_INVALID",
        id="manifest-too-large",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/" + GOOD,
        {"Content-Type": OCI_MANIFEST},
        IMAGE,
        400,
        "DIGEST_INVALID",
        id="manifest-digest-mismatch",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1",
        {"Content-Type": OCI_MANIFEST},
        IMAGE,
        400,
        "MANIFEST_BLOB_UNKNOWN",
        id="manifest-blob-unknown",
    ),
    pytest.param(
        "PUT",
        "/v2/a/manifests/v1?tag=bad!tag",
        {"Content-Type": OCI_MANIFEST},
        IMAGE,
        400,
        "MANIFEST_INVALID",
        id="bad-tag-param",
    ),
    pytest.param(
        "POST",
        "/v2/a/blobs/uploads/?digest=sha256:00",
        {},
        b"x",
        400,
        "DIGEST_INVALID",
        id="monolithic-bad-digest",
    ),
    pytest.param(
        "POST",
        "/v2/a/blobs/uploads/?digest=" + GOOD,
        {},
        b"y",
        400,
        "DIGEST_INVALID",
        id="monolithic-mismatch",
    ),
    pytest.param(
        "POST",
        "/v2/a/blobs/uploads/?digest-algorithm=md5",
        {},
        b"",
        400,
        "DIGEST_INVALID",
        id="unknown-digest-algorithm",
    ),
    pytest.param(
        "POST",
        "/v2/a/blobs/uploads/?mount=nonsense&from=b",
        {},
        b"",
        400,
        "DIGEST_INVALID",
        id="mount-bad-digest",
    ),
    pytest.param(
        "PATCH",
        "/v2/a/blobs/uploads/nope",
        {},
        b"x",
        404,
        "BLOB_UPLOAD_UNKNOWN",
        id="patch-unknown-upload",
    ),
    pytest.param(
        "PUT",
        "/v2/a/blobs/uploads/nope?digest=" + GOOD,
        {},
        b"",
        404,
        "BLOB_UPLOAD_UNKNOWN",
        id="put-unknown-upload",
    ),
    pytest.param("GET", "/v2/a/tags/list?n=abc", {}, b"", 400, "SIZE_INVALID", id="bad-page-size"),
    pytest.param(
        "GET",
        "/v2/a/referrers/sha256:bad",
        {},
        b"",
        400,
        "DIGEST_INVALID",
        id="referrers-bad-digest",
    ),
    pytest.param("POST", "/v2/a/tags/list", {}, b"", 405, "UNSUPPORTED", id="wrong-method"),
    pytest.param("GET", "/v3/", {}, b"", 404, "NAME_UNKNOWN", id="unknown-route"),
]


@pytest.mark.parametrize(("method", "url", "headers", "body", "status", "code"), CASES)
def test_bad_request(
    client: TestClient,
    data_dir: Path,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    response = client.request(method, url, headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["code"] == code
    assert client.get("/v2/_catalog").json()["repositories"] == []
    assert not [p for p in (data_dir / "objects").rglob("*") if p.is_file()]


UPLOAD_CASES = [
    pytest.param({"Content-Range": "5-9"}, b"12345", 416, id="chunk-out-of-order"),
    pytest.param({"Content-Range": "0-9"}, b"12345", 400, id="range-longer-than-body"),
    pytest.param({"Content-Range": "9-0"}, b"12345", 400, id="range-backwards"),
    pytest.param({"Content-Range": "bytes=abc"}, b"12345", 400, id="range-garbage"),
]


@pytest.mark.parametrize(("headers", "body", "status"), UPLOAD_CASES)
def test_bad_chunk_keeps_the_session(
    client: TestClient, headers: dict[str, str], body: bytes, status: int
) -> None:
    location = client.post("/v2/a/blobs/uploads/").headers["Location"]
    assert client.patch(location, content=b"abc").headers["Range"] == "0-2"
    response = client.patch(location, content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    status_now = client.get(location)
    assert status_now.headers["Range"] == "0-2"
    assert client.put(f"{location}?digest={sha256(b'abc')}").status_code == 201


def test_manifest_push_failure_changes_nothing(client: TestClient) -> None:
    digest, body = push_image(client, "keep", "v1", b"layer")
    broken = json.loads(body)
    broken["layers"].append(descriptor(b"absent"))
    response = client.put(
        "/v2/keep/manifests/v1",
        content=json.dumps(broken).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert client.get("/v2/keep/manifests/v1").headers["Docker-Content-Digest"] == digest
