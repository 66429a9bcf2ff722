"""GET /v2/_events: pages through the log in JSON and in canonical CBOR, which decodes to
the same records."""

from __future__ import annotations

import json
from typing import Any

import cbor2
import pytest
from starlette.testclient import TestClient

from storage.events import json_value
from tests.registry.helpers import push_blob, push_image


def pages(client: TestClient, n: int, accept: str | None = None) -> list[list[dict[str, Any]]]:
    """Every page, following the Link headers from the start of the log."""
    found, url = [], f"/v2/_events?n={n}"
    headers = {"Accept": accept} if accept else {}
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = cbor2.loads(response.content) if accept else response.json()
        found.append(body["events"])
        link = response.headers.get("link", "")
        url = link[1 : link.index(">")] if link else ""
    return found


def test_pages_in_json_and_cbor_hold_the_same_records(client: TestClient) -> None:
    push_image(client, "stream/app", "v1", b"layer one")
    push_blob(client, "stream/other", b"a blob")
    as_json = pages(client, 2)
    as_cbor = pages(client, 2, "application/cbor")
    records = [record for page in as_json for record in page]
    decoded = [record for page in as_cbor for record in page]
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert [len(page) for page in as_json][:-1] == [2] * (len(as_json) - 1)
    assert [r["action"] for r in records][-3:] == ["manifest.push", "tag.push", "blob.push"]
    assert json.loads(json.dumps(decoded, default=json_value)) == records


def test_cbor_is_canonical(client: TestClient) -> None:
    push_blob(client, "stream/canonical", b"bytes")
    response = client.get("/v2/_events", headers={"Accept": "application/cbor"})
    assert response.headers["content-type"] == "application/cbor"
    assert cbor2.dumps(cbor2.loads(response.content), canonical=True) == response.content


def test_after_and_n(client: TestClient) -> None:
    for n in range(5):
        push_blob(client, "stream/many", f"blob {n}".encode())
    page = client.get("/v2/_events?after=2&n=2")
    assert [r["seq"] for r in page.json()["events"]] == [3, 4]
    assert page.headers["link"] == '</v2/_events?after=4&n=2>; rel="next"'
    last = client.get("/v2/_events?after=4&n=2")
    assert [r["seq"] for r in last.json()["events"]] == [5]
    assert "link" not in last.headers
    assert client.get("/v2/_events?after=5").json() == {"events": []}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("after=-1", id="negative"),
        pytest.param("after=x", id="not-a-number"),
        pytest.param("n=1.5", id="fraction"),
        pytest.param("after=99999999999999999999", id="too-large"),
        pytest.param("after=9999999999999999999", id="beyond-64-bits"),
        pytest.param("n=%D9%A3", id="non-ascii-digit"),
    ],
)
def test_bad_cursor_or_size(client: TestClient, query: str) -> None:
    response = client.get(f"/v2/_events?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "SIZE_INVALID"
