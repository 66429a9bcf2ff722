"""Every endpoint by {anonymous, wrong credentials, caller without the permission, caller with it},
under Basic auth and under token auth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry.app import create_app

from .flows import Headers, basic, bearer, push_blob, push_image, push_referrer, sha256, token
from .helpers import PASSWORDS, load_settings, write_htpasswd

Answer = tuple[int, dict[str, str], str]  # status, headers, body
REPO = "matrix/repo"
SOURCE = "matrix/source"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with the values of fresh()
    action: str | None  # pull, push, delete; "catalog"; None: valid credentials only
    allowed: int  # the status a caller with the permission gets
    body: str | None = None  # a key of fresh() whose bytes are sent


ENDPOINTS = [
    pytest.param(Endpoint("GET", "/v2/", None, 200), id="ping"),
    pytest.param(Endpoint("GET", "/v2/_catalog", "catalog", 200), id="catalog"),
    pytest.param(Endpoint("GET", "/v2/{repo}/tags/list", "pull", 200), id="tags"),
    pytest.param(Endpoint("HEAD", "/v2/{repo}/manifests/v1", "pull", 200), id="manifest-head"),
    pytest.param(Endpoint("GET", "/v2/{repo}/manifests/v1", "pull", 200), id="manifest-get"),
    pytest.param(
        Endpoint("PUT", "/v2/{repo}/manifests/v2", "push", 201, "manifest"), id="manifest-put"
    ),
    pytest.param(
        Endpoint("DELETE", "/v2/{repo}/manifests/{doomed_manifest}", "delete", 202),
        id="manifest-delete",
    ),
    pytest.param(Endpoint("HEAD", "/v2/{repo}/blobs/{blob}", "pull", 200), id="blob-head"),
    pytest.param(Endpoint("GET", "/v2/{repo}/blobs/{blob}", "pull", 200), id="blob-get"),
    pytest.param(
        Endpoint("DELETE", "/v2/{repo}/blobs/{doomed_blob}", "delete", 202), id="blob-delete"
    ),
    pytest.param(Endpoint("POST", "/v2/{repo}/blobs/uploads/", "push", 202), id="upload-start"),
    pytest.param(
        Endpoint("POST", "/v2/{repo}/blobs/uploads/?digest={new_digest}", "push", 201, "new"),
        id="upload-whole",
    ),
    pytest.param(
        Endpoint(
            "POST", "/v2/{repo}/blobs/uploads/?mount={source_blob}&from={source}", "push", 201
        ),
        id="upload-mount",
    ),
    pytest.param(Endpoint("GET", "{upload}", "push", 204), id="upload-status"),
    pytest.param(Endpoint("PATCH", "{upload}", "push", 202, "new"), id="upload-patch"),
    pytest.param(
        Endpoint("PUT", "{upload}?digest={new_digest}", "push", 201, "new"), id="upload-close"
    ),
    pytest.param(Endpoint("DELETE", "{upload}", "push", 204), id="upload-cancel"),
    pytest.param(Endpoint("GET", "/v2/{repo}/referrers/{subject}", "pull", 200), id="referrers"),
]


@dataclass
class Registry:
    client: TestClient
    admin: Headers  # headers of a caller allowed everything in REPO and SOURCE
    values: dict[str, str]
    manifest: bytes

    def fresh(self) -> tuple[dict[str, str], dict[str, bytes]]:
        """Path values and bodies; things a request may consume are made anew."""
        new = f"new {uuid.uuid4()}".encode()
        doomed_blob = push_blob(self.client, REPO, f"doomed {uuid.uuid4()}".encode(), self.admin)
        doomed_manifest, _ = push_image(self.client, REPO, "doomed", self.admin)
        location = self.client.post(f"/v2/{REPO}/blobs/uploads/", headers=self.admin)
        values = {
            **self.values,
            "new_digest": sha256(new),
            "doomed_blob": doomed_blob,
            "doomed_manifest": doomed_manifest,
            "upload": location.headers["Location"],
        }
        return values, {"new": new, "manifest": self.manifest}

    def call(self, endpoint: Endpoint, headers: Headers) -> Answer:
        values, bodies = self.fresh()
        response = self.client.request(
            endpoint.method,
            endpoint.path.format(**values),
            content=bodies[endpoint.body] if endpoint.body else None,
            headers=headers,
        )
        return response.status_code, dict(response.headers), response.text


def populate(client: TestClient, admin: Headers) -> Registry:
    digest, manifest = push_image(client, REPO, "v1", admin)
    push_referrer(client, REPO, manifest, admin)
    blob = push_blob(client, REPO, b"a blob of the matrix", admin)
    source_blob = push_blob(client, SOURCE, f"source {uuid.uuid4()}".encode(), admin)
    values = {
        "repo": REPO,
        "blob": blob,
        "subject": digest,
        "source": SOURCE,
        "source_blob": source_blob,
    }
    return Registry(client, admin, values, manifest)


@pytest.fixture(scope="module")
def settings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("matrix")
    write_htpasswd(directory / "htpasswd", PASSWORDS)
    return directory


def app_for(directory: Path, mode: str) -> TestClient:
    settings = load_settings(
        directory / mode,
        auth=mode,
        auth_htpasswd=str(directory / "htpasswd"),
        auth_max_failures=0,  # this matrix fails many logins on purpose
    )
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def basic_registry(settings_dir: Path) -> Iterator[Registry]:
    (settings_dir / "basic").mkdir()
    with app_for(settings_dir, "basic") as client:
        yield populate(client, basic("alice", PASSWORDS["alice"]))


@pytest.fixture(scope="module")
def token_registry(settings_dir: Path) -> Iterator[Registry]:
    (settings_dir / "token").mkdir()
    with app_for(settings_dir, "token") as client:
        scopes = (f"repository:{REPO}:*", f"repository:{SOURCE}:*", "registry:catalog:*")
        yield populate(client, bearer(token(client, "alice", PASSWORDS["alice"], *scopes)))


def assert_challenged(status: int, headers: dict[str, str], body: str, scheme: str) -> None:
    assert status == 401
    assert headers["www-authenticate"].startswith(scheme)
    assert not body or '"code":"UNAUTHORIZED"' in body


def assert_anonymous(endpoint: Endpoint, answer: Answer, scheme: str) -> None:
    status, headers, body = answer
    if endpoint.action == "catalog":  # anonymous may pull public/**: a catalog of that
        assert (status, body) == (200, '{"repositories":[]}')
    else:
        assert_challenged(status, headers, body, scheme)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_basic_auth(basic_registry: Registry, endpoint: Endpoint) -> None:
    def call(headers: Headers) -> Answer:
        return basic_registry.call(endpoint, headers)

    assert_anonymous(endpoint, call({}), "Basic ")
    assert_challenged(*call(basic("alice", "not-her-password")), "Basic ")
    assert_challenged(*call(basic("mallory", PASSWORDS["alice"])), "Basic ")

    status, _, body = call(basic("carol", PASSWORDS["carol"]))  # may pull other/* only
    if endpoint.action in ("pull", "push", "delete"):
        assert status == 403
        assert not body or '"code":"DENIED"' in body
    else:
        assert status == 200
        assert REPO not in body

    status, _, body = call(basic("alice", PASSWORDS["alice"]))
    assert status == endpoint.allowed, body


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_token_auth(token_registry: Registry, endpoint: Endpoint) -> None:
    client = token_registry.client

    def call(headers: Headers) -> Answer:
        return token_registry.call(endpoint, headers)

    status, headers, body = call({})
    assert_anonymous(endpoint, (status, headers, body), "Bearer ")
    if endpoint.action in ("pull", "push", "delete"):
        assert f'scope="repository:{REPO}:' in headers["www-authenticate"]

    status, headers, body = call(bearer("not.a.token"))
    assert_challenged(status, headers, body, "Bearer ")
    assert 'error="invalid_token"' in headers["www-authenticate"]
    assert_challenged(*call(basic("alice", PASSWORDS["alice"])), "Bearer ")  # tokens only

    elsewhere = token(client, "alice", PASSWORDS["alice"], "repository:other/repo:*")
    status, headers, body = call(bearer(elsewhere))
    if endpoint.action is None:
        assert status == 200
    else:
        assert_challenged(status, headers, body, "Bearer ")
        assert 'error="insufficient_scope"' in headers["www-authenticate"]

    status, _, body = call(token_registry.admin)
    assert status == endpoint.allowed, body
