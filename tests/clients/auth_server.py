"""A plain-HTTP artifact-store under Basic or token auth, for client tests that sign in.

It is started like tests/auth/ starts its servers (an htpasswd file and the policy of
tests/auth/helpers.py), without TLS: the clients reach it with their plain-HTTP flags.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..auth.helpers import (
    PASSWORDS,
    POLICY_TOML,
    SecureServer,
    start,
    write_htpasswd,
    write_settings,
)

USER = "alice"  # may push and pull every repository under POLICY_TOML


@dataclass(frozen=True)
class AuthServer:
    server: SecureServer
    mode: str  # "basic" or "token"
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    def repository(self, prefix: str) -> str:
        """A fresh repository name under `prefix`."""
        return f"{prefix}/{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def auth_server(directory: Path, mode: str) -> Iterator[AuthServer]:
    """artifact-store on a free loopback port, plain HTTP, auth `mode` ("basic" or "token")."""
    htpasswd = write_htpasswd(directory / "htpasswd", PASSWORDS)
    settings = write_settings(directory, POLICY_TOML, auth=mode, auth_htpasswd=str(htpasswd))
    server = start(directory / "data", settings)
    try:
        yield AuthServer(server, mode, USER, PASSWORDS[USER])
    finally:
        server.stop()
