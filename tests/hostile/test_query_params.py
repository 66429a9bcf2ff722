"""Hostile `n` on every paginated endpoint: a 4xx or a clamped page, never a 5xx."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from registry.routes.listings import MAX_PAGE
from tests.registry.helpers import push_image

PAGED = ["/v2/_catalog", "/v2/r/tags/list"]
REFUSED = [
    pytest.param("9" * 5000, id="past-int-str-digits"),
    pytest.param("²", id="superscript-two"),
    pytest.param("\u0661\u0662", id="arabic-indic-digits"),
    pytest.param("-1", id="negative"),
    pytest.param("+5", id="plus-sign"),
    pytest.param("1e3", id="exponent"),
    pytest.param(" 5", id="leading-space"),
    pytest.param("", id="empty"),
    pytest.param("0x10", id="hex"),
]
CLAMPED = [
    pytest.param("9223372036854775807", id="int64-max"),
    pytest.param("9223372036854775808", id="int64-max-plus-one"),
    pytest.param("99999999999999999999", id="past-int64"),
    pytest.param("100000", id="above-max-page"),
    pytest.param("000000000000000003", id="leading-zeros"),
]


@pytest.fixture
def tagged(client: TestClient) -> TestClient:
    push_image(client, "r", "v1", b"layer")
    return client


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("n", REFUSED)
def test_malformed_n_is_size_invalid(tagged: TestClient, path: str, n: str) -> None:
    response = tagged.get(path, params={"n": n})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "SIZE_INVALID"


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("n", CLAMPED)
def test_large_n_is_served(tagged: TestClient, path: str, n: str) -> None:
    response = tagged.get(path, params={"n": n})
    assert response.status_code == 200, response.text
    assert "Link" not in response.headers


def test_pages_and_a_clamped_n(client: TestClient) -> None:
    for tag in ("a", "b"):
        push_image(client, "r", tag, b"layer")
    response = client.get("/v2/r/tags/list", params={"n": "1"})
    assert response.json()["tags"] == ["a"]
    assert "n=1&" in response.headers["Link"]
    assert MAX_PAGE == 10_000
    big = client.get("/v2/r/tags/list", params={"n": str(MAX_PAGE * 10)})
    assert big.json()["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    "value", ["²".encode("latin-1"), "\u0661".encode(), b"99999999999999999999", b"9" * 5000]
)
def test_malformed_content_range_number(client: TestClient, value: bytes) -> None:
    """Content-Range with another script's digits or a number past 64 bits: a 4xx."""
    start = client.post("/v2/r/blobs/uploads/")
    response = client.patch(
        start.headers["Location"], content=b"x", headers={"Content-Range": b"0-" + value}
    )
    assert 400 <= response.status_code < 500, response.text
