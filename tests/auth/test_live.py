"""A real server: TLS with HTTP/2 by ALPN, secrets kept out of the log, start-up checks."""

from __future__ import annotations

import base64
import os
import re
import socket
import stat
from pathlib import Path

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.auth.setup import insecure_listen_warning
from registry.config import Settings

from .flows import bearer, sha256
from .helpers import (
    PASSWORDS,
    POLICY_TOML,
    SERVICE,
    load_settings,
    make_certificates,
    start,
    write_htpasswd,
    write_settings,
)


def test_tls_with_http2_by_alpn(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path / "tls")
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    server = start(
        tmp_path / "data", None, "--auth-htpasswd", str(htpasswd), certificates=certificates
    )
    try:
        auth = ("alice", PASSWORDS["alice"])
        with server.client(http2=True, auth=auth) as client:
            data = b"over TLS and HTTP/2"
            pushed = client.post(f"/v2/tls/repo/blobs/uploads/?digest={sha256(data)}", content=data)
            pulled = client.get(f"/v2/tls/repo/blobs/{sha256(data)}")
        assert (pushed.http_version, pushed.status_code) == ("HTTP/2", 201)
        assert (pulled.http_version, pulled.content) == ("HTTP/2", data)
        with server.client(auth=auth) as client:
            assert client.get("/v2/").http_version == "HTTP/1.1"
        with pytest.raises(httpx.ConnectError):  # the CA is not in the system's trust store
            httpx.get(f"{server.url}/v2/")
    finally:
        server.stop()


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    settings = write_settings(tmp_path, POLICY_TOML, auth="token", auth_htpasswd=str(htpasswd))
    server = start(tmp_path / "data", settings, "--log-level", "debug")
    secrets = [PASSWORDS["alice"], "wrong-Secret-Guess"]
    try:
        with server.client() as client:
            secrets += exercise(client)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "GET /token" in log and "POST /token" in log  # the access log was on
    assert "failed login" in log
    for secret in secrets:
        encoded = base64.b64encode(f"alice:{secret}".encode()).decode()
        for form in (secret, encoded, secret[-20:]):
            assert form not in log


def exercise(client: httpx.Client) -> list[str]:
    """Logins, good and bad, by every route; returns the tokens it got."""
    alice = ("alice", PASSWORDS["alice"])
    scope = "repository:logs/repo:pull,push"
    client.get(
        "/token", params={"service": SERVICE, "scope": scope}, auth=("alice", "wrong-Secret-Guess")
    )
    got = client.get(
        "/token", params={"service": SERVICE, "scope": scope, "offline_token": "true"}, auth=alice
    ).json()
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": PASSWORDS["alice"],
        "service": SERVICE,
        "scope": scope,
        "access_type": "offline",
    }
    posted = client.post("/token", data=form).json()
    refreshed = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": got["refresh_token"],
            "service": SERVICE,
            "scope": scope,
        },
    ).json()
    for value in (got["token"], posted["access_token"], refreshed["access_token"]):
        assert client.post("/v2/logs/repo/blobs/uploads/", headers=bearer(value)).status_code == 202
    client.get("/v2/logs/repo/tags/list", headers=bearer(got["token"] + "x"))
    client.get("/v2/logs/repo/tags/list", headers=bearer(got["refresh_token"]))
    return [got["token"], got["refresh_token"], posted["access_token"], refreshed["access_token"]]


@pytest.mark.parametrize(
    ("addr", "extra", "warns"),
    [
        pytest.param("127.0.0.1:5000", {}, None, id="loopback"),
        pytest.param("[::1]:5000", {}, None, id="loopback-v6"),
        pytest.param("localhost:5000", {}, None, id="localhost"),
        pytest.param("0.0.0.0:5000", {}, "without authentication", id="all-interfaces"),
        pytest.param("[::]:5000", {}, "without authentication", id="all-interfaces-v6"),
        pytest.param("192.0.2.7:5000", {}, "without authentication", id="an-interface"),
        pytest.param("0.0.0.0:5000", {"auth_htpasswd": Path("h")}, "without TLS", id="auth-no-tls"),
        pytest.param(
            "0.0.0.0:5000",
            {"auth_htpasswd": Path("h"), "tls_cert": Path("c"), "tls_key": Path("k")},
            None,
            id="auth-and-tls",
        ),
    ],
)
def test_start_up_warning(addr: str, extra: dict[str, Path], warns: str | None) -> None:
    warning = insecure_listen_warning(Settings(addr=addr, **extra))  # type: ignore[arg-type]
    assert (warning is None) if warns is None else (warns in (warning or ""))


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_signing_key_is_made_on_first_start(tmp_path: Path, htpasswd: Path, algorithm: str) -> None:
    settings = load_settings(
        tmp_path, auth="token", auth_htpasswd=str(htpasswd), auth_token_algorithm=algorithm
    )
    key_file = tmp_path / "data" / "auth" / "token-signing-key.pem"
    with TestClient(create_app(settings)) as client:
        response = client.get("/token", params={"service": SERVICE}, auth=("bob", PASSWORDS["bob"]))
    assert jwt.get_unverified_header(response.json()["token"])["alg"] == algorithm
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    first = key_file.read_bytes()
    create_app(settings)  # a second start keeps the key
    assert key_file.read_bytes() == first


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one HTTP/1.1 request on a kept-alive socket; return the head of the response."""
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            return head
        head += chunk
    length = re.search(rb"(?i)content-length: (\d+)", head)
    body = head.split(b"\r\n\r\n", 1)[1]
    while length and len(body) < int(length[1]):
        body += sock.recv(65536)
    return head


def test_a_refused_body_leaves_the_connection_usable(tmp_path: Path) -> None:
    """Clients resend on the same connection after a 401 (the conformance suites do)."""
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    server = start(tmp_path / "data", None, "--auth-htpasswd", str(htpasswd))
    credentials = base64.b64encode(f"alice:{PASSWORDS['alice']}".encode()).decode()
    data = b"x" * 50_000

    def upload(body: bytes, authorization: str = "") -> bytes:
        return (
            f"POST /v2/conn/repo/blobs/uploads/?digest={sha256(body)} HTTP/1.1\r\n"
            f"Host: {server.host}\r\nContent-Length: {len(body)}\r\n{authorization}\r\n"
        ).encode() + body

    try:
        host, port = server.host.split(":")
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            refused = exchange(sock, upload(data))
            assert (
                refused.startswith(b"HTTP/1.1 401") and b"connection: close" not in refused.lower()
            )
            accepted = exchange(sock, upload(data, f"Authorization: Basic {credentials}\r\n"))
            assert accepted.startswith(b"HTTP/1.1 201"), accepted
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            big = exchange(sock, upload(b"y" * 1_000_000))
            assert big.startswith(b"HTTP/1.1 401") and b"connection: close" in big.lower()
    finally:
        server.stop()
