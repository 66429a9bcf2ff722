"""Builders for the auth tests: htpasswd files, TOML settings, tokens, live servers."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme

from registry import config
from tests.conftest import free_port

CI = os.environ.get("CI", "").lower() == "true"
TOOLS_BIN = Path(os.environ.get("TOOLS_DIR", Path.home() / ".cache" / "artifact-store")) / "bin"
SERVICE = "artifact-store"

PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2", "carol": "carol-Secret-3"}

# alice administers everything; bob pushes and pulls team/**; carol pulls other/* only;
# anyone may pull public/**.
POLICY_TOML = """
[auth_groups]
admins = ["alice"]
team = ["bob"]

[[auth_policy]]
repositories = ["**"]
groups = ["admins"]
actions = ["*", "admin"]

[[auth_policy]]
repositories = ["team/**"]
groups = ["team"]
actions = ["pull", "push"]

[[auth_policy]]
repositories = ["other/*"]
users = ["carol"]
actions = ["pull"]

[[auth_policy]]
repositories = ["public/**"]
anonymous = true
actions = ["pull"]
"""


def write_htpasswd(path: Path, users: dict[str, str], cost: int = 4) -> Path:
    lines = [
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(cost)).decode()}" for u, p in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_settings(directory: Path, body: str, **values: Any) -> Path:
    """A TOML file: `values` as top-level keys, then `body` (tables)."""
    lines = [f"{key} = {_toml(value)}" for key, value in values.items()]
    path = directory / "artifact-store.toml"
    path.write_text("\n".join(lines) + "\n" + body)
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_settings(directory: Path, body: str = POLICY_TOML, **values: Any) -> config.Settings:
    values.setdefault("data_dir", str(directory / "data"))
    return config.load(write_settings(directory, body, **values), {}, {})


def tool(name: str) -> str:
    candidate = TOOLS_BIN / name
    found = str(candidate) if os.access(candidate, os.X_OK) else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (run `make clients`)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(
    args: Sequence[str],
    timeout: float = 180,
    env: dict[str, str] | None = None,
    input: str = "",
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    command = " ".join(args[:3])
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stderr}"
    return result


def exit_status(args: Sequence[str], input: str = "", env: dict[str, str] | None = None) -> int:
    result = subprocess.run(
        list(args),
        input=input,
        capture_output=True,
        timeout=180,
        env={**os.environ, **(env or {})},
        text=True,
    )
    return result.returncode


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # the self-signed CA, for clients
    cert_file: Path  # the server's chain
    key_file: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificates(directory: Path) -> Certificates:
    """The CA alone in ca/ (a --cert-dir must hold no *.key), the server's files in server/."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    (directory / "ca").mkdir(parents=True)
    (directory / "server").mkdir()
    ca_file, cert, key = (
        directory / "ca" / "ca.crt",
        directory / "server" / "server.crt",
        directory / "server" / "server.key",
    )
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_pem.write_to_path(str(key))
    server.cert_chain_pems[0].write_to_path(str(cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(cert), append=True)
    return Certificates(ca_file, cert, key)


# --------------------------------------------------------------------------- live servers


@dataclass
class SecureServer:
    host: str
    scheme: str
    log: Path
    process: subprocess.Popen[bytes]
    verify: ssl.SSLContext | bool

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=30, **kwargs)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(
    data_dir: Path,
    settings_file: Path | None = None,
    *extra: str,
    certificates: Certificates | None = None,
) -> SecureServer:
    """`artifact-store serve` on a free loopback port; ready once /v2/ answers 200 or 401."""
    host = f"127.0.0.1:{free_port()}"
    exe = shutil.which("artifact-store", path=str(Path(sys.executable).parent)) or "artifact-store"
    args = [exe, "serve", "--addr", host, "--data-dir", str(data_dir), *extra]
    if settings_file is not None:
        args += ["--config", str(settings_file)]
    if certificates is not None:
        args += ["--tls-cert", str(certificates.cert_file), "--tls-key", str(certificates.key_file)]
    log = data_dir.parent / f"{data_dir.name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    scheme = "https" if certificates else "http"
    verify: ssl.SSLContext | bool = certificates.context() if certificates else True
    server = SecureServer(host, scheme, log, process, verify)
    _wait(server)
    return server


def _wait(server: SecureServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/v2/", verify=server.verify, timeout=1).status_code in (
                200,
                401,
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server at {server.url} did not answer within {timeout}s")
