"""The catalog lists what the caller may pull; a mount without pull on its source is
indistinguishable from a mount of a blob the source lacks."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from .flows import Headers, basic, bearer, push_blob, push_image, sha256, token
from .helpers import PASSWORDS

ALICE = basic("alice", PASSWORDS["alice"])
BOB = basic("bob", PASSWORDS["bob"])
CAROL = basic("carol", PASSWORDS["carol"])


@pytest.fixture
def populated(basic_client: TestClient) -> TestClient:
    for repo in ("team/app", "team/lib", "other/x", "public/y", "secret/z"):
        push_image(basic_client, repo, "v1", ALICE)
    return basic_client


def catalog(client: httpx.Client, headers: Headers, query: str = "") -> list[str]:
    response = client.get(f"/v2/_catalog{query}", headers=headers)
    assert response.status_code == 200, response.text
    names: list[str] = response.json()["repositories"]
    return names


@pytest.mark.parametrize(
    ("headers", "visible"),
    [
        pytest.param(
            ALICE, ["other/x", "public/y", "secret/z", "team/app", "team/lib"], id="admin"
        ),
        pytest.param(BOB, ["public/y", "team/app", "team/lib"], id="team"),
        pytest.param(CAROL, ["other/x", "public/y"], id="one-pattern"),
        pytest.param({}, ["public/y"], id="anonymous"),
    ],
)
def test_catalog_lists_what_the_caller_may_pull(
    populated: TestClient, headers: Headers, visible: list[str]
) -> None:
    assert catalog(populated, headers) == visible


def test_filtered_catalog_pages(populated: TestClient) -> None:
    first = populated.get("/v2/_catalog?n=2", headers=BOB)
    assert first.json()["repositories"] == ["public/y", "team/app"]
    assert first.headers["Link"] == '</v2/_catalog?n=2&last=team%2Fapp>; rel="next"'
    assert catalog(populated, BOB, "?n=2&last=team/app") == ["team/lib"]
    assert "Link" not in populated.get("/v2/_catalog?n=1&last=team/app", headers=BOB).headers


def mount(
    client: httpx.Client, target: str, source: str, digest: str, headers: Headers
) -> httpx.Response:
    return client.post(f"/v2/{target}/blobs/uploads/?mount={digest}&from={source}", headers=headers)


def shape(response: httpx.Response) -> tuple[int, str, str, bool]:
    return (
        response.status_code,
        response.headers["Range"],
        response.headers["Location"].rsplit("/", 1)[0],
        "Docker-Upload-UUID" in response.headers,
    )


def test_mount_without_pull_on_the_source_leaks_nothing(populated: TestClient) -> None:
    hidden = push_blob(populated, "secret/z", b"a secret layer", ALICE)
    missing = sha256(b"a layer nobody pushed")
    denied = mount(populated, "team/app", "secret/z", hidden, BOB)
    absent = mount(populated, "team/app", "secret/z", missing, BOB)
    assert shape(denied) == shape(absent) == (202, "0-0", "/v2/team/app/blobs/uploads", True)
    assert populated.head(f"/v2/team/app/blobs/{hidden}", headers=BOB).status_code == 404

    shared = push_blob(populated, "team/lib", b"a shared layer", ALICE)
    mounted = mount(populated, "team/app", "team/lib", shared, BOB)
    assert mounted.status_code == 201
    assert populated.head(f"/v2/team/app/blobs/{shared}", headers=BOB).status_code == 200


def test_mount_needs_push_on_the_target(populated: TestClient) -> None:
    shared = push_blob(populated, "other/x", b"carol may pull this", ALICE)
    assert mount(populated, "other/y", "other/x", shared, CAROL).status_code == 403


def test_token_mount_needs_pull_on_the_source_in_the_token(token_client: TestClient) -> None:
    admin = bearer(token(token_client, "alice", PASSWORDS["alice"], "repository:team/lib:*"))
    digest = push_blob(token_client, "team/lib", b"a layer to mount", admin)

    challenge = mount(token_client, "team/app", "team/lib", digest, {})
    assert challenge.status_code == 401
    assert (
        'scope="repository:team/app:pull,push repository:team/lib:pull"'
        in (challenge.headers["www-authenticate"])
    )
    push_only = bearer(
        token(token_client, "bob", PASSWORDS["bob"], "repository:team/app:pull,push")
    )
    assert mount(token_client, "team/app", "team/lib", digest, push_only).status_code == 202
    both = bearer(
        token(
            token_client,
            "bob",
            PASSWORDS["bob"],
            "repository:team/app:pull,push",
            "repository:team/lib:pull",
        )
    )
    assert mount(token_client, "team/app", "team/lib", digest, both).status_code == 201


def test_tags_and_referrers_need_pull(populated: TestClient) -> None:
    digest, _ = push_image(populated, "team/app", "v2", ALICE)
    for path in ("/v2/team/app/tags/list", f"/v2/team/app/referrers/{digest}"):
        assert populated.get(path, headers=CAROL).status_code == 403
        assert populated.get(path, headers=BOB).status_code == 200
        assert populated.get(path).status_code == 401
