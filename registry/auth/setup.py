"""Builds the gate, the token issuer and the middleware from the settings."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from registry.auth.endpoint import TokenEndpoint
from registry.auth.gate import Gate
from registry.auth.htpasswd import Htpasswd
from registry.auth.keys import SigningKey, create_signing_key, parse_public_keys, parse_signing_key
from registry.auth.middleware import AuthMiddleware
from registry.auth.policy import Policy
from registry.auth.rules import GuardedRoute
from registry.auth.throttle import LoginThrottle
from registry.auth.tokens import TokenIssuer, TokenVerifier
from registry.auth.watched import WatchedFile
from registry.config import ConfigError, Settings

KEY_FILE = Path("auth") / "token-signing-key.pem"
T = TypeVar("T")


@dataclass
class Auth:
    gate: Gate
    endpoint: TokenEndpoint | None

    def middleware(self, routes: Sequence[BaseRoute]) -> Middleware:
        return Middleware(AuthMiddleware, gate=self.gate, routes=routes)

    def routes(self) -> list[GuardedRoute]:
        return self.endpoint.routes() if self.endpoint else []


def build(settings: Settings) -> Auth | None:
    """None when auth is off; ConfigError for any file or setting that cannot be used."""
    if settings.auth_mode == "none":
        return None
    policy = Policy.from_settings(settings.auth_policy, settings.auth_groups)
    htpasswd = _read(Htpasswd, settings.auth_htpasswd) if settings.auth_htpasswd else None
    gate = Gate(
        settings.auth_mode,
        policy,
        htpasswd,
        None,
        LoginThrottle(settings.auth_max_failures, settings.auth_failure_window),
        settings.auth_token_service,
        settings.auth_token_realm,
    )
    if settings.auth_mode == "basic":
        return Auth(gate, None)
    signing = _signing_key(settings) if htpasswd else None
    gate.verifier = _verifier(settings, signing)
    if htpasswd is None or signing is None:
        return Auth(gate, None)
    issuer = TokenIssuer(
        signing,
        settings.auth_token_issuer,
        settings.auth_token_service,
        settings.auth_token_ttl,
        settings.auth_refresh_ttl,
    )
    return Auth(gate, TokenEndpoint(gate, htpasswd, issuer, gate.verifier))


def _verifier(settings: Settings, signing: WatchedFile[SigningKey] | None) -> TokenVerifier:
    own = (settings.auth_token_issuer, signing) if signing else None
    trusted = None
    if settings.auth_trusted_keys and settings.auth_trusted_issuer:
        keys = _read(lambda p: WatchedFile(p, parse_public_keys), settings.auth_trusted_keys)
        trusted = (settings.auth_trusted_issuer, keys)
    return TokenVerifier(settings.auth_token_service, settings.auth_clock_skew, own, trusted)


def _signing_key(settings: Settings) -> WatchedFile[SigningKey]:
    path = settings.auth_token_key or Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        create_signing_key(path, settings.auth_token_algorithm)
    return _read(lambda p: WatchedFile(p, parse_signing_key), path)


def _read(make: Callable[[Path], T], path: Path) -> T:
    try:
        return make(path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def insecure_listen_warning(settings: Settings) -> str | None:
    """A warning when the registry listens beyond loopback without auth or without TLS."""
    host, _ = settings.host_port
    if _loopback(host):
        return None
    if settings.auth_mode == "none":
        return (
            f"listening on {settings.addr} without authentication: anyone who can reach it"
            " may pull, push and delete; set auth_htpasswd (see docs/security.md)"
        )
    if settings.tls_cert is None:
        return (
            f"listening on {settings.addr} with authentication but without TLS: passwords and"
            " tokens cross the network in clear text; set tls_cert and tls_key"
        )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
