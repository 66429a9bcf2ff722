"""A throwaway PostgreSQL server: Debian's binaries, initdb in a temporary directory,
listening on 127.0.0.1 on a free port, stopped and started at will by the fault tests.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres`
account the Debian package creates (or `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from storage.schema import metadata
from tests.conftest import ROOT, free_port

TIMEOUT = 60


def bindir() -> Path | None:
    """Where initdb and postgres live: PATH first, then Debian's versioned directories."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(versions[-1]).parent if versions else None


def _version(path: str) -> float:
    number = Path(path).parent.parent.name
    return float(number) if number.replace(".", "", 1).isdigit() else 0.0


def _unprivileged() -> dict[str, Any]:
    """Popen arguments that drop root (setuid in the child: the pid stays the server's)."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and no unprivileged account to run PostgreSQL as")


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="artifact-store-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._reused: str | None = None
        self._as = _unprivileged()
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> PostgresServer:
        command = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres"]
        options = ["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]
        subprocess.run(
            [*command, *options], check=True, capture_output=True, timeout=TIMEOUT, **self._as
        )
        return self

    def start(self) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": "300",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        flags = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), *flags],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                **self._as,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
            if self.psql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"postgres did not accept connections within {TIMEOUT}s")

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as when a database host goes away."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def psql(
        self, sql: str, database: str = "postgres", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        where = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]
        return subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *where, "-c", sql],
            capture_output=True,
            text=True,
            check=check,
            timeout=TIMEOUT,
        )

    def create_database(self, prefix: str = "registry") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def emptied_database(self) -> str:
        """One migrated database, emptied for each caller: much cheaper than a new one."""
        if self._reused is None:
            url = self.create_database("reused")
            command = [sys.executable, "-m", "registry.cli", "migrate", "--metadata-url", url]
            subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT, cwd=ROOT)
            self._reused = url
        tables = ", ".join(table.name for table in metadata.sorted_tables)
        self.psql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE", self._reused.rpartition("/")[2])
        return self._reused

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer | None:
    """A running server, or None when PostgreSQL is not installed."""
    found = bindir()
    if found is None or not (found / "psql").exists():
        return None
    server = PostgresServer(found).init()
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
