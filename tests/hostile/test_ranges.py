"""Byte ranges of empty and tiny blobs: 416 with `bytes */size`, never an impossible range."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.registry.helpers import push_blob


@pytest.mark.parametrize(
    "header", ["bytes=-5", "bytes=-1", "bytes=0-", "bytes=0-0", "bytes=-0", "bytes=3-"]
)
def test_empty_blob_range_is_416(client: TestClient, header: str) -> None:
    digest = push_blob(client, "r", b"")
    response = client.get(f"/v2/r/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 416, response.text
    assert response.headers["Content-Range"] == "bytes */0"


def test_empty_blob_without_range(client: TestClient) -> None:
    digest = push_blob(client, "r", b"")
    response = client.get(f"/v2/r/blobs/{digest}")
    assert (response.status_code, response.content) == (200, b"")


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        pytest.param("bytes=-5", 206, b"abc", id="suffix-longer-than-blob"),
        pytest.param("bytes=1-", 206, b"bc", id="open-end"),
        pytest.param("bytes=\xb2-", 200, b"abc", id="non-ascii-digit-ignored"),
        pytest.param("bytes=99999999999999999999-", 416, b"", id="start-past-int64"),
    ],
)
def test_small_blob_ranges(client: TestClient, header: str, status: int, body: bytes) -> None:
    digest = push_blob(client, "r", b"abc")
    raw = header.encode("latin-1")  # as it arrives: Starlette decodes headers as Latin-1
    response = client.get(f"/v2/r/blobs/{digest}", headers={"Range": raw})
    assert response.status_code == status, response.text
    if status != 416:
        assert response.content == body
