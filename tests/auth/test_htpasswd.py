"""htpasswd: bcrypt only (others refused at start), changes picked up without a restart,
one bcrypt computation per check whoever the user is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from starlette.testclient import TestClient

from registry.app import create_app
from registry.auth.htpasswd import Htpasswd
from registry.config import ConfigError

from .flows import basic
from .helpers import PASSWORDS, load_settings, write_htpasswd

BAD_ENTRIES = [
    pytest.param("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1", id="sha1"),
    pytest.param("$apr1$7Xf0a0Ve$EB2Up0QCSTmSR7HoaIH5r0", "Apache MD5", id="apr1"),
    pytest.param("$6$salt$" + "a" * 86, "SHA-512-crypt", id="sha512-crypt"),
    pytest.param("abQqNKrZT9SLc", "DES-crypt", id="des-crypt"),
    pytest.param("plain-text-password", "plain-text", id="plain"),
]


@pytest.mark.parametrize(("entry", "kind"), BAD_ENTRIES)
def test_other_hash_kinds_are_refused(tmp_path: Path, entry: str, kind: str) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": PASSWORDS["alice"]})
    htpasswd.write_text(htpasswd.read_text() + f"dave:{entry}\n")
    settings = load_settings(tmp_path, auth_htpasswd=str(htpasswd))
    with pytest.raises(ConfigError) as raised:
        create_app(settings)
    message = str(raised.value)
    assert "line 2: user 'dave'" in message and kind in message and "only bcrypt" in message
    assert entry not in message


def test_the_command_refuses_to_start(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    exe = Path(sys.executable).parent / "artifact-store"
    result = subprocess.run(
        [str(exe), "serve", "--data-dir", str(tmp_path / "d"), "--auth-htpasswd", str(htpasswd)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "only bcrypt entries" in result.stderr and "htpasswd -B" in result.stderr


def test_2y_entries_from_htpasswd_are_accepted(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).replace(b"$2b$", b"$2y$")
    (tmp_path / "htpasswd").write_bytes(b"# users\n\ndave:" + hashed + b"\n")
    settings = load_settings(tmp_path, auth_htpasswd=str(tmp_path / "htpasswd"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/v2/", headers=basic("dave", "pw")).status_code == 200


def test_changes_are_picked_up_without_a_restart(basic_client: TestClient, htpasswd: Path) -> None:
    assert basic_client.get("/v2/", headers=basic("bob", PASSWORDS["bob"])).status_code == 200
    write_htpasswd(htpasswd, {**PASSWORDS, "bob": "bob-Rotated", "dave": "dave-New"})
    assert basic_client.get("/v2/", headers=basic("bob", PASSWORDS["bob"])).status_code == 401
    assert basic_client.get("/v2/", headers=basic("bob", "bob-Rotated")).status_code == 200
    assert basic_client.get("/v2/", headers=basic("dave", "dave-New")).status_code == 200

    # a broken edit is logged and the last good content stays in force
    htpasswd.write_text(htpasswd.read_text() + "eve:$apr1$7Xf0a0Ve$EB2Up0QCSTmSR7HoaIH5r0\n")
    assert basic_client.get("/v2/", headers=basic("bob", "bob-Rotated")).status_code == 200
    assert basic_client.get("/v2/", headers=basic("eve", "x")).status_code == 401


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hashes bcrypt.checkpw is asked to check against (it still does the work)."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return calls


async def test_every_check_costs_one_bcrypt_of_the_same_cost(
    tmp_path: Path, bcrypt_calls: list[bytes]
) -> None:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"}, cost=6)
    htpasswd = Htpasswd(users)
    assert await htpasswd.verify("alice", "right")
    assert not await htpasswd.verify("alice", "wrong")
    assert not await htpasswd.verify("nobody", "right")
    assert not await htpasswd.verify("", "")
    assert len(bcrypt_calls) == 4
    assert {hashed[:7] for hashed in bcrypt_calls} == {b"$2b$06$"}


async def test_verified_credentials_are_remembered_until_the_hash_changes(
    tmp_path: Path, bcrypt_calls: list[bytes]
) -> None:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"})
    htpasswd = Htpasswd(users)
    for _ in range(3):
        assert await htpasswd.verify("alice", "right")
    assert len(bcrypt_calls) == 1
    write_htpasswd(users, {"alice": "right"})  # same password, new salt
    assert await htpasswd.verify("alice", "right")
    assert len(bcrypt_calls) == 2


async def test_long_passwords_are_cut_like_htpasswd_does(tmp_path: Path) -> None:
    long = "x" * 72
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": long})
    htpasswd = Htpasswd(users)
    assert await htpasswd.verify("alice", long + "ignored-beyond-72-bytes")
    assert not await htpasswd.verify("alice", "y" * 100)


def test_fingerprint_follows_the_password(tmp_path: Path) -> None:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": "one"})
    htpasswd = Htpasswd(users)
    before: Any = htpasswd.fingerprint("alice")
    write_htpasswd(users, {"alice": "two"})
    assert htpasswd.fingerprint("alice") not in (None, before)
    assert htpasswd.fingerprint("nobody") is None
