"""The web UI's pages over HTTP: what each shows, escaping, 404s, the setting that turns
it off, and what the auth policy lets each caller see."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.auth.tokens import InvalidToken
from registry.config import Settings
from registry.ui import links
from registry.ui.viewer import UIAuth
from tests.registry.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    b3,
    descriptor,
    push_blob,
    push_image,
    sha256,
)

HOSTILE = '<script>alert("x")</script>'
ARTIFACT = "application/vnd.example.sbom+json"


def push_referrer(client: TestClient, repo: str, subject: str, size: int) -> str:
    config = b"{}"
    push_blob(client, repo, config)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": ARTIFACT,
            "config": descriptor(config, "application/vnd.oci.empty.v1+json"),
            "layers": [],
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": subject,
                "size": size,
            },
            "annotations": {"note": HOSTILE},
        }
    ).encode()
    response = client.put(
        f"/v2/{repo}/manifests/{sha256(body)}",
        content=body,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status_code == 201, response.text
    return sha256(body)


def push_index(client: TestClient, repo: str, tag: str) -> str:
    children = []
    for arch in ("amd64", "arm64"):
        _, body = push_image(client, repo, f"{tag}-{arch}", arch.encode() * 10)
        platform = {"os": "linux", "architecture": arch}
        children.append(descriptor(body, OCI_MANIFEST, platform=platform))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    response = client.put(
        f"/v2/{repo}/manifests/{tag}", content=index, headers={"Content-Type": OCI_INDEX}
    )
    assert response.status_code == 201, response.text
    return sha256(index)


def test_repositories_page_lists_repositories_with_their_figures(client: TestClient) -> None:
    push_image(client, "team/app", "v1", b"layer-one")
    push_image(client, "team/app", "v2", b"layer-one")
    push_image(client, "other", "latest", b"x")
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "team/app" in page.text and "other" in page.text
    filtered = client.get("/ui/", params={"q": "team"})
    assert "team/app" in filtered.text and ">other<" not in filtered.text


def test_repositories_page_pages_by_name(client: TestClient) -> None:
    for number in range(53):
        push_blob(client, f"repo{number:03d}", b"same bytes")
    first = client.get("/ui/")
    assert "repo049" in first.text and "repo050" not in first.text
    assert "after=repo049" in first.text
    second = client.get("/ui/", params={"after": "repo049"})
    assert "repo050" in second.text and "repo052" in second.text and "repo049<" not in second.text
    assert 'rel="next"' not in second.text


def test_repository_page_shows_tags_platforms_and_pull_commands(client: TestClient) -> None:
    digest, _ = push_image(client, "app", "v1", b"layer")
    push_index(client, "app", "multi")
    page = client.get("/ui/repositories/app")
    assert page.status_code == 200
    assert digest.split(":")[1][:12] in page.text
    assert "linux/amd64, linux/arm64" in page.text
    assert "docker pull testserver/app:v1" in page.text
    assert "oras pull testserver/app:v1" in page.text


def test_manifest_page_shows_both_digests_and_referrers(client: TestClient) -> None:
    layer = b"layer bytes"
    digest, body = push_image(client, "app", "v1", layer)
    referrer = push_referrer(client, "app", digest, len(body))
    page = client.get("/ui/repositories/app/-/manifests/v1")
    assert page.status_code == 200
    assert sha256(layer) in page.text and b3(layer) in page.text
    assert b3(body) in page.text
    assert referrer in page.text and ARTIFACT in page.text
    by_digest = client.get(f"/ui/repositories/app/-/manifests/{digest}")
    assert by_digest.status_code == 200 and b3(layer) in by_digest.text


def test_hostile_annotations_are_shown_as_text(client: TestClient) -> None:
    digest, body = push_image(client, "app", "v1", b"l", annotations={"evil": HOSTILE})
    referrer = push_referrer(client, "app", digest, len(body))
    for path in (
        "/ui/repositories/app/-/manifests/v1",
        f"/ui/repositories/app/-/manifests/{referrer}",
    ):
        page = client.get(path)
        assert HOSTILE not in page.text
        assert "&lt;script&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_index_page_links_its_platform_children(client: TestClient) -> None:
    push_index(client, "app", "multi")
    page = client.get("/ui/repositories/app/-/manifests/multi")
    assert "linux/arm64" in page.text
    child = client.get("/v2/app/manifests/multi-arm64").headers["Docker-Content-Digest"]
    assert f'href="/ui/repositories/app/-/manifests/{child}"' in page.text


def test_store_page_shows_dedupe(client: TestClient) -> None:
    push_image(client, "a", "v1", b"shared layer" * 100)
    push_image(client, "b", "v1", b"shared layer" * 100)
    page = client.get("/ui/store")
    assert page.status_code == 200
    assert "Dedupe" in page.text and "tag.push" in page.text


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ui/repositories/missing", id="unknown-repository"),
        pytest.param("/ui/repositories/UPPER", id="invalid-name"),
        pytest.param("/ui/repositories/app/-/manifests/nope", id="unknown-tag"),
        pytest.param("/ui/repositories/app/-/manifests/sha256:abc", id="bad-digest"),
        pytest.param("/ui/repositories/app/-/manifests/sha256:" + "0" * 64, id="unknown-digest"),
        pytest.param("/ui/repositories/app/-/manifests/bad%20tag", id="invalid-tag"),
        pytest.param("/ui/nowhere", id="no-such-page"),
    ],
)
def test_bad_paths_answer_a_404_page(client: TestClient, path: str) -> None:
    push_image(client, "app", "v1", b"l")
    page = client.get(path)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


def test_ui_without_its_slash_and_the_stylesheet(client: TestClient) -> None:
    moved = client.get("/ui", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"].endswith("/ui/")
    sheet = client.get("/ui/style.css")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")


def test_the_setting_turns_the_ui_off(data_dir: Path) -> None:
    with TestClient(create_app(Settings(data_dir=data_dir, ui=False))) as client:
        assert client.get("/ui/").status_code == 404


@pytest.fixture
def basic_client(tmp_path: Path) -> Iterator[TestClient]:
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"alice:{hashed}\nbob:{hashed}\n")
    policy = (
        {"repositories": ["public/**"], "actions": ["pull"], "anonymous": True},
        {"repositories": ["**"], "actions": ["*", "admin"], "users": ["alice"]},
    )
    settings = Settings(data_dir=tmp_path / "data", auth_htpasswd=htpasswd, auth_policy=policy)
    with TestClient(create_app(settings)) as client:
        yield client


ALICE = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
BOB = {"Authorization": "Basic " + base64.b64encode(b"bob:secret").decode()}


def test_basic_auth_anonymous_sees_only_public_repositories(basic_client: TestClient) -> None:
    basic_client.headers.update(ALICE)
    push_image(basic_client, "public/app", "v1", b"l")
    push_image(basic_client, "private/app", "v1", b"l")
    del basic_client.headers["Authorization"]
    page = basic_client.get("/ui/")
    assert "public/app" in page.text and "private/app" not in page.text
    refused = basic_client.get("/ui/repositories/private/app")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic ")
    missing = basic_client.get("/ui/repositories/private/nothing")
    assert missing.status_code == 401  # the same answer: existence is not told
    assert basic_client.get("/ui/store").status_code == 401
    assert basic_client.get("/ui/repositories/public/app").status_code == 200
    signed_in = basic_client.get("/ui/", headers=ALICE)
    assert "private/app" in signed_in.text
    wrong = {"Authorization": "Basic " + base64.b64encode(b"alice:nope").decode()}
    assert basic_client.get("/ui/", headers=wrong).status_code == 401


def test_a_signed_in_user_sees_what_the_policy_gives_them(basic_client: TestClient) -> None:
    basic_client.headers.update(ALICE)
    push_image(basic_client, "public/app", "v1", b"l")
    push_image(basic_client, "private/app", "v1", b"l")
    basic_client.headers.update(BOB)  # signed in, but only the public rule covers bob
    page = basic_client.get("/ui/")
    assert "signed in as" in page.text and "bob" in page.text
    assert "public/app" in page.text and "private/app" not in page.text
    assert basic_client.get("/ui/repositories/private/app").status_code == 403
    assert basic_client.get("/ui/repositories/private/app/-/manifests/v1").status_code == 403
    assert basic_client.get("/ui/store").status_code == 403
    assert "Store" not in page.text.split("<main>")[0]  # no link to a page bob may not see


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        pytest.param("app", "v1", id="tag"),
        pytest.param("team/sub/app", "sha256:" + "a" * 64, id="nested-digest"),
    ],
)
def test_links_are_the_routes_paths(client: TestClient, name: str, reference: str) -> None:
    app = client.app
    assert links.repository(name) == app.url_path_for("ui-repository", name=name)  # type: ignore[attr-defined]
    expected = app.url_path_for("ui-manifest", name=name, reference=reference)  # type: ignore[attr-defined]
    assert links.manifest(name, reference) == expected


@pytest.fixture
def token_client(tmp_path: Path) -> Iterator[TestClient]:
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"alice:{hashed}\n")
    policy = (
        {"repositories": ["public/**"], "actions": ["pull"], "anonymous": True},
        {"repositories": ["**"], "actions": ["*", "admin"], "users": ["alice"]},
    )
    settings = Settings(
        data_dir=tmp_path / "data", auth="token", auth_htpasswd=htpasswd, auth_policy=policy
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_token_mode_signs_in_with_a_form_and_a_session_cookie(token_client: TestClient) -> None:
    token = token_client.get(
        "/token", params={"scope": "repository:private/app:push"}, headers=ALICE
    )
    pusher = TestClient(
        token_client.app, headers={"Authorization": f"Bearer {token.json()['token']}"}
    )
    push_image(pusher, "private/app", "v1", b"l")
    assert "private/app" not in token_client.get("/ui/").text
    form = token_client.get("/ui/login")
    assert form.status_code == 200 and 'type="password"' in form.text
    wrong = token_client.post("/ui/login", data={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    signed_in = token_client.post(
        "/ui/login", data={"username": "alice", "password": "secret"}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "private/app" in token_client.get("/ui/").text
    session = token_client.cookies["artifact_store_ui"]
    as_bearer = token_client.get(
        "/v2/private/app/tags/list", headers={"Authorization": f"Bearer {session}"}
    )
    assert as_bearer.status_code == 401  # a session is not an access token
    token_client.post("/ui/logout")
    assert "private/app" not in token_client.get("/ui/").text


def test_a_forged_session_cookie_is_anonymous(token_client: TestClient) -> None:
    token_client.cookies.set("artifact_store_ui", "not-a-token", path="/ui")
    page = token_client.get("/ui/")
    assert page.status_code == 200 and "Sign in" in page.text


def test_session_tokens_are_not_access_tokens(token_client: TestClient) -> None:
    auth: UIAuth = token_client.app.state.ui_auth  # type: ignore[attr-defined]
    assert auth.gate.verifier is not None
    session = auth.session_cookie("alice")
    assert auth.gate.verifier.session(session) == "alice"
    with pytest.raises(InvalidToken, match="ui-session token is not an access token"):
        auth.gate.verifier.access(session)
    assert auth.issuer is not None
    access = auth.issuer.access_token("alice", []).token
    with pytest.raises(InvalidToken, match="not a session token"):
        auth.gate.verifier.session(access)
