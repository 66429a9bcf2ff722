"""Start-up checks in process: bind failures, the address trial, the database wait, and a
schema newer than the code."""

from __future__ import annotations

import asyncio
import errno
import socket
import sqlite3
from pathlib import Path

import pytest

from registry.config import Settings
from registry.preflight import (
    CONFIGURATION,
    ENVIRONMENT,
    StartupError,
    address,
    bind_error,
    database,
    inspect,
    preflight,
)
from tests.auth.helpers import write_htpasswd
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("exc", "status", "says"),
    [
        pytest.param(OSError(errno.EADDRINUSE, "x"), ENVIRONMENT, "already in use", id="in-use"),
        pytest.param(OSError(errno.EACCES, "x"), ENVIRONMENT, "below 1024", id="privileged"),
        pytest.param(
            OSError(errno.EADDRNOTAVAIL, "x"), CONFIGURATION, "not an address", id="not-here"
        ),
        pytest.param(
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            CONFIGURATION,
            "does not resolve (Name or service not known)",
            id="no-such-host",
        ),
        pytest.param(
            OSError(errno.EMFILE, "Too many open files"), ENVIRONMENT, "Too many", id="other"
        ),
    ],
)
def test_bind_errors(exc: OSError, status: int, says: str) -> None:
    failure = bind_error(exc, "example:5000")
    assert failure.status == status
    assert str(failure).startswith("addr example:5000: ") and says in str(failure)
    assert "\n" not in str(failure) and "; " in str(failure)


def test_check_tries_the_address() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        settings = Settings(addr=f"127.0.0.1:{held.getsockname()[1]}")
        with pytest.raises(StartupError, match="already in use"):
            asyncio.run(address.check(settings))
    assert "free to listen on" in asyncio.run(address.check(settings))


def test_an_unreachable_database_is_retried_and_each_attempt_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://registry:pw@127.0.0.1:{free_port()}/registry"
    with pytest.raises(StartupError) as raised:
        asyncio.run(database.wait_until_reachable(url, 1.5))
    attempts = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert len(attempts) >= 2, attempts
    assert all("registry:***@" in line and "Connection refused" in line for line in attempts)
    assert "unreachable for 2s (Connection refused)" in str(raised.value)  # 1.5s, rounded
    assert raised.value.status == ENVIRONMENT


def test_a_schema_newer_than_this_version_is_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    asyncio.run(database.prepare(settings))
    with sqlite3.connect(tmp_path / "data" / "metadata.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    checked = {finding.name: finding for finding in inspect(settings)}["metadata"]
    assert not checked.ok and "revision 9999, which artifact-store" in checked.detail
    with pytest.raises(StartupError, match="at revision 9999, which a newer version wrote"):
        asyncio.run(database.prepare(settings))


def test_a_signing_key_that_cannot_be_created_fails_before_the_start(tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "pw"})
    (tmp_path / "a-file").write_text("")
    settings = Settings(
        data_dir=tmp_path / "data",
        auth="token",
        auth_htpasswd=htpasswd,
        auth_token_key=tmp_path / "a-file" / "key.pem",
    )
    auth = {finding.name: finding for finding in inspect(settings)}["auth"]
    assert auth.error is not None and auth.error.status == CONFIGURATION
    assert auth.detail.startswith(f"auth_token_key {tmp_path}/a-file/key.pem: cannot create it")
    with pytest.raises(StartupError, match="auth_token_key"):
        preflight(settings)
