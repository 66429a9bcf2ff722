"""End-to-end flows through the app: uploads, manifests, tags, referrers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from starlette.testclient import TestClient

from tests.registry.helpers import (
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    b3,
    descriptor,
    push_blob,
    push_image,
    sha256,
)


def test_version_check(client: TestClient) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_chunked_upload(client: TestClient) -> None:
    data = bytes(range(256)) * 1000
    start = client.post("/v2/a/b/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["Location"]
    assert start.headers["Range"] == "0-0"
    first = client.patch(location, content=data[:1000], headers={"Content-Range": "0-999"})
    assert (first.status_code, first.headers["Range"]) == (202, "0-999")
    out_of_order = client.patch(location, content=data[5:10], headers={"Content-Range": "5-9"})
    assert (out_of_order.status_code, out_of_order.headers["Range"]) == (416, "0-999")
    streamed = client.patch(first.headers["Location"], content=data[1000:200000])
    assert streamed.headers["Range"] == "0-199999"
    status = client.get(location)
    assert (status.status_code, status.headers["Range"]) == (204, "0-199999")
    done = client.put(f"{location}?digest={sha256(data)}", content=data[200000:])
    assert done.status_code == 201
    assert client.get(done.headers["Location"]).content == data
    assert client.get(location).status_code == 404


def test_digest_mismatch_leaves_nothing(client: TestClient, data_dir: Path) -> None:
    wrong = sha256(b"other")
    response = client.post(f"/v2/a/blobs/uploads/?digest={wrong}", content=b"data")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.head(f"/v2/a/blobs/{wrong}").status_code == 404
    assert not [p for p in (data_dir / "objects").rglob("*") if p.is_file()]


def test_cancel_upload(client: TestClient) -> None:
    location = client.post("/v2/a/blobs/uploads/").headers["Location"]
    assert client.delete(location).status_code == 204
    status = client.get(location)
    assert status.status_code == 404
    assert status.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_sha512_and_blake3_uploads(client: TestClient) -> None:
    data = b"x" * 5000
    sha512 = "sha512:" + hashlib.sha512(data).hexdigest()
    location = client.post("/v2/a/blobs/uploads/?digest-algorithm=sha512").headers["Location"]
    done = client.put(f"{location}?digest={sha512}", content=data)
    assert done.status_code == 201
    assert done.headers["Docker-Content-Digest"] == sha512
    for digest in (sha512, sha256(data), b3(data)):
        assert client.get(f"/v2/a/blobs/{digest}").content == data
    unknown = client.post("/v2/a/blobs/uploads/?digest-algorithm=md5")
    assert unknown.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_sha512_digest_without_asking_first(client: TestClient) -> None:
    data = b"late sha512"
    sha512 = "sha512:" + hashlib.sha512(data).hexdigest()
    location = client.post("/v2/a/blobs/uploads/").headers["Location"]
    client.patch(location, content=data)
    assert client.put(f"{location}?digest={sha512}").status_code == 201
    assert client.head(f"/v2/a/blobs/{sha256(data)}").status_code == 200


def test_mount(client: TestClient) -> None:
    digest = push_blob(client, "src", b"mounted")
    mounted = client.post(f"/v2/dst/blobs/uploads/?mount={digest}&from=src")
    assert mounted.status_code == 201
    assert client.get(f"/v2/dst/blobs/{digest}").content == b"mounted"
    missing = client.post(f"/v2/dst2/blobs/uploads/?mount={sha256(b'nope')}&from=src")
    assert missing.status_code == 202
    not_readable = client.post(f"/v2/dst3/blobs/uploads/?mount={digest}&from=elsewhere")
    assert not_readable.status_code == 202
    assert client.head(f"/v2/dst3/blobs/{digest}").status_code == 404


def test_blob_range_and_delete(client: TestClient) -> None:
    digest = push_blob(client, "r", b"0123456789")
    part = client.get(f"/v2/r/blobs/{digest}", headers={"Range": "bytes=2-5"})
    assert (part.status_code, part.content) == (206, b"2345")
    assert part.headers["Content-Range"] == "bytes 2-5/10"
    assert client.get(f"/v2/r/blobs/{digest}", headers={"Range": "bytes=-3"}).content == b"789"
    unsatisfiable = client.get(f"/v2/r/blobs/{digest}", headers={"Range": "bytes=10-"})
    assert (unsatisfiable.status_code, unsatisfiable.headers["Content-Range"]) == (
        416,
        "bytes */10",
    )
    assert client.delete(f"/v2/r/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/r/blobs/{digest}").status_code == 404
    assert client.delete(f"/v2/r/blobs/{digest}").status_code == 404


def test_manifest_round_trip_and_delete(client: TestClient) -> None:
    digest, body = push_image(client, "img", "v1", b"layer one", b"layer two")
    for reference in ("v1", digest):
        got = client.get(f"/v2/img/manifests/{reference}")
        assert got.content == body
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        assert client.head(f"/v2/img/manifests/{reference}").headers["Content-Length"] == str(
            len(body)
        )
    assert client.delete("/v2/img/manifests/v1").status_code == 202
    assert client.get("/v2/img/manifests/v1").status_code == 404
    assert client.get(f"/v2/img/manifests/{digest}").status_code == 200
    client.put("/v2/img/manifests/v2", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert client.delete(f"/v2/img/manifests/{digest}").status_code == 202
    assert client.get("/v2/img/manifests/v2").status_code == 404
    assert client.get(f"/v2/img/manifests/{digest}").status_code == 404


def test_manifest_needs_its_blobs_in_the_repository(client: TestClient) -> None:
    push_image(client, "has", "v1", b"layer")
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": "v1"}).encode()
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
            "layers": [descriptor(b"layer", "application/vnd.oci.image.layer.v1.tar")],
        }
    ).encode()
    response = client.put(
        "/v2/lacks/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert client.get("/v2/lacks/manifests/v1").status_code == 404


def test_multi_tag_push_and_tag_listing(client: TestClient) -> None:
    digest, body = push_image(client, "multi", "first", b"l")
    response = client.put(
        f"/v2/multi/manifests/{digest}?tag=b&tag=a&tag=c",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201
    assert response.headers.get_list("OCI-Tag") == ["b", "a", "c"]
    assert client.get("/v2/multi/tags/list").json() == {
        "name": "multi",
        "tags": ["a", "b", "c", "first"],
    }
    page = client.get("/v2/multi/tags/list?n=2")
    assert page.json()["tags"] == ["a", "b"]
    assert page.headers["Link"] == '</v2/multi/tags/list?n=2&last=b>; rel="next"'
    assert client.get("/v2/multi/tags/list?n=2&last=b").json()["tags"] == ["c", "first"]
    assert client.get("/v2/nothing/tags/list").json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_catalog(client: TestClient) -> None:
    for repo in ("zeta", "alpha/one", "beta"):
        push_blob(client, repo, repo.encode())
    assert client.get("/v2/_catalog").json() == {"repositories": ["alpha/one", "beta", "zeta"]}
    page = client.get("/v2/_catalog?n=1&last=alpha/one")
    assert page.json() == {"repositories": ["beta"]}
    assert 'rel="next"' in page.headers["Link"]


def test_referrers(client: TestClient) -> None:
    subject_digest, subject_body = push_image(client, "ref", "v1", b"l")
    push_blob(client, "ref", b"{}")
    signature = b"signature"
    push_blob(client, "ref", signature)

    def artifact(artifact_type: str | None, annotation: str) -> bytes:
        body: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(b"{}", OCI_EMPTY),
            "layers": [descriptor(signature)],
            "subject": descriptor(subject_body, OCI_MANIFEST),
            "annotations": {"note": annotation},
        }
        if artifact_type:
            body["artifactType"] = artifact_type
        return json.dumps(body).encode()

    for kind, note in (("application/vnd.example.sig", "one"), (None, "two")):
        body = artifact(kind, note)
        pushed = client.put(
            f"/v2/ref/manifests/{sha256(body)}",
            content=body,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert pushed.status_code == 201
        assert pushed.headers["OCI-Subject"] == subject_digest
    listing = client.get(f"/v2/ref/referrers/{subject_digest}")
    assert listing.headers["Content-Type"] == OCI_INDEX
    found = {m["artifactType"]: m["annotations"]["note"] for m in listing.json()["manifests"]}
    assert found == {"application/vnd.example.sig": "one", OCI_EMPTY: "two"}
    filtered = client.get(
        f"/v2/ref/referrers/{subject_digest}?artifactType=application/vnd.example.sig"
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert len(filtered.json()["manifests"]) == 1
    empty = client.get(f"/v2/ref/referrers/{sha256(b'unknown')}")
    assert (empty.status_code, empty.json()["manifests"]) == (200, [])


def test_subject_may_be_absent(client: TestClient) -> None:
    push_blob(client, "orphan", b"{}")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/x",
            "config": descriptor(b"{}", OCI_EMPTY),
            "layers": [],
            "subject": descriptor(b"missing", OCI_MANIFEST),
        }
    ).encode()
    response = client.put(
        "/v2/orphan/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == sha256(b"missing")


def test_moved_tag_is_read_at_once(client: TestClient) -> None:
    first, _ = push_image(client, "move", "latest", b"one")
    assert client.head("/v2/move/manifests/latest").headers["Docker-Content-Digest"] == first
    second, body = push_image(client, "move", "latest", b"two")
    assert second != first
    got = client.get("/v2/move/manifests/latest")
    assert (got.headers["Docker-Content-Digest"], got.content) == (second, body)
