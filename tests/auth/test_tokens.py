"""The token endpoint, and tokens that must not pass: expired, forged, wrong audience or
issuer, `alg: none`, HMAC with the public key, tampered, refresh-as-access; scope escalation;
an external issuer's keys (JWKS and PEM)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient

from registry.app import create_app
from registry.auth.keys import thumbprint

from .flows import bearer, push_image, token
from .helpers import PASSWORDS, SERVICE, load_settings, write_htpasswd

ISSUER = "artifact-store"


def claims_of(value: str) -> dict[str, Any]:
    return jwt.decode(value, options={"verify_signature": False})


def signing_key(tmp_path: Path) -> Any:
    pem = (tmp_path / "data" / "auth" / "token-signing-key.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def mint(
    key: Any, algorithm: str = "ES256", headers: dict[str, Any] | None = None, **claims: Any
) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": SERVICE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "access": [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}],
        **claims,
    }
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def tags_status(client: TestClient, value: str, repo: str = "team/app") -> tuple[int, str]:
    response = client.get(f"/v2/{repo}/tags/list", headers=bearer(value))
    return response.status_code, response.headers.get("www-authenticate", "")


# --------------------------------------------------------------------------- the endpoint


def test_token_claims(token_client: TestClient, tmp_path: Path) -> None:
    value = token(token_client, "bob", PASSWORDS["bob"], "repository:team/app:pull,push,delete")
    claims = claims_of(value)
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, SERVICE, "bob")
    assert claims["exp"] - claims["iat"] == 300
    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    header = jwt.get_unverified_header(value)
    assert header["alg"] == "ES256"
    assert header["kid"] == thumbprint(signing_key(tmp_path).public_key())


def test_response_shape(token_client: TestClient) -> None:
    response = token_client.get(
        "/token",
        params={"service": SERVICE, "scope": "repository:team/app:pull"},
        auth=("bob", PASSWORDS["bob"]),
    )
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    assert "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"


def test_scopes_are_cut_to_the_policy(token_client: TestClient) -> None:
    value = token(
        token_client,
        "bob",
        PASSWORDS["bob"],
        "repository:team/app:*",
        "repository:other/x:pull",
        "repository:team/*:pull",  # a pattern is not a repository name
        "registry:catalog:*",
    )
    assert claims_of(value)["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


def test_admin_scopes_only_for_admins(token_client: TestClient) -> None:
    wanted = ("registry:events:*", "registry:usage:*", "registry:nonsense:*")
    admin = claims_of(token(token_client, "alice", PASSWORDS["alice"], *wanted))
    assert admin["access"] == [
        {"type": "registry", "name": "events", "actions": ["*"]},
        {"type": "registry", "name": "usage", "actions": ["*"]},
    ]
    member = claims_of(token(token_client, "bob", PASSWORDS["bob"], *wanted))
    assert member["access"] == []


def test_anonymous_token(token_client: TestClient) -> None:
    value = token(
        token_client, None, "", "repository:public/x:pull,push", "repository:team/app:pull"
    )
    claims = claims_of(value)
    assert claims["sub"] == ""
    assert claims["access"] == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(("bob", "wrong"), id="wrong-password"),
        pytest.param(("nobody", "x"), id="unknown-user"),
        pytest.param(("", ""), id="empty"),
    ],
)
def test_bad_credentials_get_401(token_client: TestClient, auth: tuple[str, str]) -> None:
    response = token_client.get("/token", params={"service": SERVICE}, auth=auth)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_other_service_is_refused(token_client: TestClient) -> None:
    response = token_client.get(
        "/token", params={"service": "elsewhere"}, auth=("bob", PASSWORDS["bob"])
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_oauth_password_grant(token_client: TestClient) -> None:
    form = {
        "grant_type": "password",
        "username": "bob",
        "password": PASSWORDS["bob"],
        "service": SERVICE,
        "client_id": "tests",
        "scope": "repository:team/app:pull,push repository:other/x:pull",
    }
    response = token_client.post("/token", data=form)
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "repository:team/app:pull,push"
    assert "refresh_token" not in body
    assert tags_status(token_client, body["access_token"])[0] == 404  # admitted; no such repository
    offline = token_client.post("/token", data={**form, "access_type": "offline"}).json()
    assert offline["refresh_token"]


def test_oauth_errors(token_client: TestClient) -> None:
    wrong = {"grant_type": "password", "username": "bob", "password": "nope", "service": SERVICE}
    assert token_client.post("/token", data=wrong).status_code == 401
    odd = {"grant_type": "client_credentials", "service": SERVICE}
    response = token_client.post("/token", data=odd)
    assert (response.status_code, response.json()["errors"][0]["code"]) == (400, "UNSUPPORTED")


def refresh(client: TestClient, refresh_token: str, scope: str) -> Any:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "service": SERVICE,
        "client_id": "tests",
        "scope": scope,
    }
    return client.post("/token", data=form)


def offline_token(client: TestClient) -> str:
    response = client.get(
        "/token",
        params={"service": SERVICE, "offline_token": "true"},
        auth=("bob", PASSWORDS["bob"]),
    )
    refresh_token: str = response.json()["refresh_token"]
    return refresh_token


def test_refresh_tokens(token_client: TestClient, htpasswd: Path) -> None:
    refresh_token = offline_token(token_client)
    response = refresh(token_client, refresh_token, "repository:team/app:pull")
    assert response.status_code == 200
    assert response.json()["refresh_token"] == refresh_token
    assert response.json()["scope"] == "repository:team/app:pull"

    # neither kind passes for the other
    assert tags_status(token_client, refresh_token)[0] == 401
    access = response.json()["access_token"]
    assert refresh(token_client, access, "repository:team/app:pull").status_code == 401

    # a new password ends the refresh tokens issued under the old one
    write_htpasswd(htpasswd, {**PASSWORDS, "bob": "bob-New-Secret"})
    assert refresh(token_client, refresh_token, "repository:team/app:pull").status_code == 401


def test_refresh_token_of_a_removed_user(token_client: TestClient, htpasswd: Path) -> None:
    refresh_token = offline_token(token_client)
    write_htpasswd(htpasswd, {"alice": PASSWORDS["alice"]})
    assert refresh(token_client, refresh_token, "repository:team/app:pull").status_code == 401


# --------------------------------------------------------------------------- tokens that must fail


def forged_cases(key: Any) -> Iterator[tuple[str, str]]:
    other = ec.generate_private_key(ec.SECP256R1())
    kid = thumbprint(key.public_key())
    now = int(time.time())
    yield "expired", mint(key, headers={"kid": kid}, exp=now - 120, iat=now - 500, nbf=now - 500)
    yield "not-yet-valid", mint(key, headers={"kid": kid}, nbf=now + 600)
    yield "forged", mint(other, headers={"kid": kid})
    yield "forged-no-kid", mint(other)
    yield "wrong-audience", mint(key, aud="another-registry")
    yield "no-audience", mint(key, aud=None)
    yield "wrong-issuer", mint(key, iss="someone-else")
    yield "no-expiry", _without(mint(key), "exp", key)
    unsigned = jwt.encode(json.loads(_payload(mint(key))), key="", algorithm="none")
    yield "alg-none", unsigned
    yield "alg-none-signature-kept", _reheader(mint(key), {"alg": "none", "typ": "JWT"})
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    yield "hmac-with-public-key", _hs256(json.loads(_payload(mint(key))), public_pem)
    yield (
        "tampered",
        _tamper(
            mint(key), {"access": [{"type": "repository", "name": "team/app", "actions": ["*"]}]}
        ),
    )
    yield "garbage", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"


def _payload(value: str) -> str:
    part = value.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _reheader(value: str, header: dict[str, Any]) -> str:
    _, payload, signature = value.split(".")
    return f"{_encode(header)}.{payload}.{signature}"


def _tamper(value: str, changes: dict[str, Any]) -> str:
    header, _, signature = value.split(".")
    return f"{header}.{_encode({**json.loads(_payload(value)), **changes})}.{signature}"


def _without(value: str, claim: str, key: Any) -> str:
    claims = json.loads(_payload(value))
    del claims[claim]
    return jwt.encode(claims, key, algorithm="ES256")


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """PyJWT refuses to sign this (a PEM key as an HMAC secret), which is the point."""
    signing_input = f"{_encode({'alg': 'HS256', 'typ': 'JWT'})}.{_encode(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_tokens_that_must_not_pass(token_client: TestClient, tmp_path: Path) -> None:
    key = signing_key(tmp_path)
    assert tags_status(token_client, mint(key))[0] == 404  # the genuine article is admitted
    for name, value in forged_cases(key):
        status, challenge = tags_status(token_client, value)
        assert status == 401, name
        assert 'error="invalid_token"' in challenge, name


def test_clock_skew_is_tolerated(token_client: TestClient, tmp_path: Path) -> None:
    now = int(time.time())
    key = signing_key(tmp_path)
    assert tags_status(token_client, mint(key, exp=now - 10, iat=now - 300))[0] == 404
    assert tags_status(token_client, mint(key, nbf=now + 10))[0] == 404


# --------------------------------------------------------------------------- scope escalation


def test_scopes_are_honoured_exactly(token_client: TestClient) -> None:
    admin = token(token_client, "alice", PASSWORDS["alice"], "repository:a/b:*", "repository:a/c:*")
    push_image(token_client, "a/b", "v1", bearer(admin))
    push_image(token_client, "a/c", "v1", bearer(admin))
    pull_ab = bearer(token(token_client, "alice", PASSWORDS["alice"], "repository:a/b:pull"))

    assert token_client.get("/v2/a/b/manifests/v1", headers=pull_ab).status_code == 200
    assert token_client.post("/v2/a/b/blobs/uploads/", headers=pull_ab).status_code == 401
    assert token_client.delete("/v2/a/b/manifests/v1", headers=pull_ab).status_code == 401
    for path in (
        "/v2/a/c/manifests/v1",
        "/v2/a/b/c/tags/list",
        "/v2/a/bc/tags/list",
        "/v2/_catalog",
    ):
        response = token_client.get(path, headers=pull_ab)
        assert response.status_code == 401, path
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_policy_caps_what_a_token_can_hold(token_client: TestClient) -> None:
    carol = token(token_client, "carol", PASSWORDS["carol"], "repository:team/app:pull,push,delete")
    assert claims_of(carol)["access"] == []
    bob = bearer(token(token_client, "bob", PASSWORDS["bob"], "repository:team/app:*"))
    push_image(token_client, "team/app", "v1", bob)
    assert token_client.delete("/v2/team/app/manifests/v1", headers=bob).status_code == 401


# --------------------------------------------------------------------------- external issuer

EXTERNAL = "https://issuer.example"


def external_client(tmp_path: Path, keys_file: Path) -> TestClient:
    settings = load_settings(
        tmp_path,
        auth="token",
        auth_trusted_keys=str(keys_file),
        auth_trusted_issuer=EXTERNAL,
        auth_token_realm=f"{EXTERNAL}/token",
    )
    return TestClient(create_app(settings))


def jwks(*keys: tuple[str, Any]) -> str:
    return json.dumps({"keys": [{**_jwk(key), "kid": kid} for kid, key in keys]})


def _jwk(key: Any) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(public, as_dict=True)
    if isinstance(public, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public, as_dict=True)
    return OKPAlgorithm.to_jwk(public, as_dict=True)


def test_external_issuer_jwks(tmp_path: Path) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys_file = tmp_path / "issuer.jwks"
    keys_file.write_text(jwks(("ed", ed), ("rs", rs)))
    with external_client(tmp_path, keys_file) as client:
        challenge = client.get("/v2/team/app/tags/list").headers["www-authenticate"]
        assert challenge.startswith(f'Bearer realm="{EXTERNAL}/token",service="{SERVICE}"')
        assert client.get("/token").status_code == 404  # no built-in issuer without htpasswd
        good = [
            mint(ed, "EdDSA", {"kid": "ed"}, iss=EXTERNAL),
            mint(rs, "RS256", {"kid": "rs"}, iss=EXTERNAL),
            mint(ed, "EdDSA", iss=EXTERNAL),
        ]
        for value in good:
            assert tags_status(client, value)[0] == 404
        other = ed25519.Ed25519PrivateKey.generate()
        bad = [
            mint(other, "EdDSA", {"kid": "ed"}, iss=EXTERNAL),
            mint(ed, "EdDSA", {"kid": "ed"}, iss="artifact-store"),
            mint(ed, "EdDSA", {"kid": "ed"}, iss=EXTERNAL, aud="elsewhere"),
            mint(ed, "EdDSA", {"kid": "rs"}, iss=EXTERNAL),
        ]
        for value in bad:
            assert tags_status(client, value)[0] == 401

        # the key file is re-read when it changes: rotation without a restart
        keys_file.write_text(jwks(("new", other)))
        assert tags_status(client, mint(other, "EdDSA", {"kid": "new"}, iss=EXTERNAL))[0] == 404
        assert tags_status(client, mint(ed, "EdDSA", {"kid": "ed"}, iss=EXTERNAL))[0] == 401


def test_external_issuer_pem(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    keys_file = tmp_path / "issuer.pem"
    keys_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with external_client(tmp_path, keys_file) as client:
        assert tags_status(client, mint(key, iss=EXTERNAL))[0] == 404
        assert tags_status(client, mint(key, iss=EXTERNAL), "team/other")[0] == 401
        assert tags_status(client, mint(key, iss=EXTERNAL, exp=int(time.time()) - 3600))[0] == 401


# --------------------------------------------------------------------------- key rotation


def replace_key(path: Path) -> Any:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (path.parent / "new.pem").write_bytes(pem)
    (path.parent / "new.pem").replace(path)
    return key


def test_signing_key_rotation_without_restart(token_client: TestClient, tmp_path: Path) -> None:
    scope = "repository:team/app:pull"
    old = token(token_client, "bob", PASSWORDS["bob"], scope)
    refresh_token = offline_token(token_client)
    new_key = replace_key(tmp_path / "data" / "auth" / "token-signing-key.pem")
    assert tags_status(token_client, old)[0] == 401
    assert refresh(token_client, refresh_token, scope).status_code == 401
    new = token(token_client, "bob", PASSWORDS["bob"], scope)
    assert jwt.get_unverified_header(new) == {
        "alg": "EdDSA",
        "kid": thumbprint(new_key.public_key()),
        "typ": "JWT",
    }
    assert tags_status(token_client, new)[0] == 404


def test_old_key_as_trusted_key_of_the_same_issuer(tmp_path: Path, htpasswd: Path) -> None:
    key_file = tmp_path / "signing.pem"
    old_key = ec.generate_private_key(ec.SECP256R1())
    key_file.write_bytes(
        old_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    old_public = tmp_path / "old-public.pem"
    old_public.write_bytes(
        old_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = load_settings(
        tmp_path,
        auth="token",
        auth_htpasswd=str(htpasswd),
        auth_token_key=str(key_file),
        auth_trusted_keys=str(old_public),
        auth_trusted_issuer=ISSUER,
    )
    with TestClient(create_app(settings)) as client:
        old = token(client, "bob", PASSWORDS["bob"], "repository:team/app:pull")
        replace_key(key_file)
        assert tags_status(client, old)[0] == 404  # still passes, by the trusted old key
        assert (
            tags_status(client, token(client, "bob", PASSWORDS["bob"], "repository:team/app:pull"))[
                0
            ]
            == 404
        )
