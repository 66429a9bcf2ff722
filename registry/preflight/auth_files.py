"""Authentication files: the htpasswd file, trusted issuer keys and the token signing key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from registry.auth.htpasswd import parse_htpasswd
from registry.auth.keys import parse_public_keys, parse_signing_key
from registry.auth.setup import KEY_FILE
from registry.config import ConfigError, Settings
from registry.preflight.failure import CONFIGURATION, StartupError, check_creatable, path_error

T = TypeVar("T")


async def check(settings: Settings) -> str:
    if settings.auth_mode == "none":
        return "auth = none: anyone who reaches the server may pull, push and delete"
    return await asyncio.to_thread(_check, settings)


def _check(settings: Settings) -> str:
    found = [f"auth = {settings.auth_mode}"]
    if settings.auth_htpasswd is not None:
        entries = _parsed("auth_htpasswd", settings.auth_htpasswd, parse_htpasswd)
        found.append(f"{len(entries.hashes)} users in {settings.auth_htpasswd}")
    if settings.auth_trusted_keys is not None:
        keys = _parsed("auth_trusted_keys", settings.auth_trusted_keys, parse_public_keys)
        found.append(f"{len(keys)} trusted keys of {settings.auth_trusted_issuer}")
    if settings.auth_mode == "token" and settings.auth_htpasswd is not None:
        found.append(_signing_key(settings))
    return "; ".join(found)


def _signing_key(settings: Settings) -> str:
    path = settings.auth_token_key or Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        check_creatable("auth_token_key", path)
        return f"signing key {path} is created at the first start"
    _parsed("auth_token_key", path, parse_signing_key)
    return f"signing key {path}"


def _parsed(setting: str, path: Path, parse: Callable[[bytes], T]) -> T:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise path_error(setting, path, exc, "cannot read it") from exc
    try:
        return parse(content)
    except ConfigError as exc:
        raise StartupError(
            f"{setting} {path}", str(exc), "correct the file", CONFIGURATION
        ) from exc
