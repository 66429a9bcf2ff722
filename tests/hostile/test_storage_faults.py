"""Bytes gone under a standing row: HEAD and GET agree on 404, PATCH on an unknown upload."""

from __future__ import annotations

from pathlib import Path

import blake3
import pytest
from starlette.testclient import TestClient

from storage import layout
from tests.registry.helpers import OCI_MANIFEST, push_blob, push_image

DATA = b"bytes that will vanish" * 100


def blob_file(data_dir: Path, data: bytes) -> Path:
    key = layout.blob_key(blake3.blake3(data).hexdigest())
    found = [p for p in data_dir.rglob("*") if p.is_file() and str(p).endswith(key)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("method", ["HEAD", "GET"])
@pytest.mark.parametrize("ranged", [False, True])
def test_missing_blob_file_is_unknown(
    client: TestClient, data_dir: Path, method: str, ranged: bool
) -> None:
    digest = push_blob(client, "r", DATA)
    blob_file(data_dir, DATA).unlink()
    headers = {"Range": "bytes=0-3"} if ranged else {}
    response = client.request(method, f"/v2/r/blobs/{digest}", headers=headers)
    assert response.status_code == 404
    if method == "GET":
        assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_patch_after_upload_data_vanished(client: TestClient, data_dir: Path) -> None:
    location = client.post("/v2/r/blobs/uploads/").headers["Location"]
    first = client.patch(location, content=b"abc", headers={"Content-Range": "0-2"})
    assert first.status_code == 202
    upload_id = location.rstrip("/").rsplit("/", 1)[-1]
    stored = [p for p in data_dir.rglob("*") if p.is_file() and upload_id in str(p)]
    assert stored
    for path in stored:
        path.unlink()
    second = client.patch(first.headers["Location"], content=b"def")
    assert second.status_code == 404, second.text
    assert second.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_blob_delete_of_a_manifest_is_refused(client: TestClient) -> None:
    digest, body = push_image(client, "r", "v1", b"layer")
    index = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
        f'"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":{len(body)}}}]}}'
    )
    refused = client.delete(f"/v2/r/blobs/{digest}")
    assert refused.status_code == 405
    assert refused.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert client.get(f"/v2/r/manifests/{digest}").status_code == 200
    pushed = client.put(
        "/v2/r/manifests/all",
        content=index,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert pushed.status_code == 201, pushed.text
    assert client.delete(f"/v2/r/manifests/{digest}").status_code == 202
