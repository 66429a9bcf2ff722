"""Users and bcrypt password hashes from an htpasswd file (`htpasswd -B`).

Only bcrypt entries are accepted: htpasswd's other kinds (MD5 "$apr1$", "{SHA}",
crypt) are fast to brute-force. Every check costs one bcrypt computation, for
unknown users too (against a dummy hash of the same cost), so timing does not
tell which users exist. Verified credentials are remembered by an HMAC under a
per-process secret, tied to the hash they matched, so a changed password
forgets them; clients that send credentials on every request stay cheap.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from registry.auth.watched import WatchedFile
from registry.config import ConfigError

BCRYPT = re.compile(rb"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
BCRYPT_MAX_BYTES = 72  # what htpasswd -B hashes of a longer password
KINDS = [
    (b"$apr1$", "Apache MD5"),
    (b"{SHA}", "SHA-1"),
    (b"$1$", "MD5-crypt"),
    (b"$5$", "SHA-256-crypt"),
    (b"$6$", "SHA-512-crypt"),
    (b"$argon2", "Argon2"),
]
REMEMBERED = 4096


class HtpasswdError(ConfigError):
    pass


@dataclass(frozen=True)
class Entries:
    hashes: dict[str, bytes]
    dummy: bytes  # a bcrypt hash of the highest cost in the file, for unknown users


def parse_htpasswd(content: bytes) -> Entries:
    hashes: dict[str, bytes] = {}
    cost = 4
    for number, raw in enumerate(content.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        user, sep, hashed = line.partition(b":")
        if not sep or not user:
            raise HtpasswdError(f"line {number}: expected USER:HASH")
        name = user.decode("utf-8", "replace")
        match = BCRYPT.match(hashed)
        if match is None:
            raise HtpasswdError(
                f"line {number}: user {name!r} has {_kind(hashed)}; only bcrypt entries"
                " ($2y$, $2b$, $2a$; create them with `htpasswd -B`) are accepted"
            )
        hashes[name] = hashed
        cost = max(cost, int(match[1]))
    return Entries(hashes, _dummy_hash(cost))


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    """Made once per cost: a reload of the file does not pay for a new one."""
    return bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(cost))


def _kind(hashed: bytes) -> str:
    for prefix, name in KINDS:
        if hashed.startswith(prefix):
            return f"a {name} hash"
    if len(hashed) == 13:
        return "a DES-crypt hash"
    return "an unrecognised or plain-text password"


class Htpasswd:
    def __init__(self, path: Path) -> None:
        self._file = WatchedFile(path, parse_htpasswd)
        self._secret = os.urandom(32)
        self._verified: OrderedDict[bytes, bytes] = OrderedDict()

    def users(self) -> set[str]:
        return set(self._file.current().hashes)

    def fingerprint(self, user: str) -> str | None:
        """Changes when the user's password does (binds refresh tokens to it)."""
        hashed = self._file.current().hashes.get(user)
        return hashlib.sha256(hashed).hexdigest()[:32] if hashed else None

    async def verify(self, user: str, password: str) -> bool:
        entries = self._file.current()
        stored = entries.hashes.get(user)
        key = hmac.digest(self._secret, f"{user}\0{password}".encode(), "sha256")
        remembered = self._verified.get(key)
        if stored is not None and _same(remembered, stored):
            return True
        ok = await asyncio.to_thread(_check, password, stored or entries.dummy)
        if ok and stored is not None:
            self._remember(key, stored)
        return ok and stored is not None

    def _remember(self, key: bytes, stored: bytes) -> None:
        self._verified[key] = stored
        if len(self._verified) > REMEMBERED:
            self._verified.popitem(last=False)


def _same(remembered: bytes | None, stored: bytes) -> bool:
    return remembered is not None and hmac.compare_digest(remembered, stored)


def _check(password: str, hashed: bytes) -> bool:
    return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], hashed)
