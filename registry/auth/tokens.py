"""Bearer tokens: JWTs this server signs, and their validation (ours and an external issuer's).

Access tokens carry the Docker `access` claim and live minutes; refresh tokens
carry `use = "refresh"` and the fingerprint of the user's password hash, so a
changed password or a removed user ends them. Neither kind passes for the other.
Only asymmetric algorithms are accepted: never `none`, never HMAC (a public key
must not double as a shared secret). Clients send one token with many requests,
so a verified access token is remembered until it expires or the keys change.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from registry.auth.keys import RSA_ALGORITHMS, SigningKey, VerifyingKey
from registry.auth.scopes import Access
from registry.auth.watched import WatchedFile

ALLOWED = frozenset({"ES256", "ES384", "ES512", "EdDSA", *RSA_ALGORITHMS})
REFRESH = "refresh"
SESSION = "ui-session"  # the web UI's sign-in cookie (registry/ui/viewer.py)
REMEMBERED = 4096


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


class TokenIssuer:
    def __init__(
        self, key: WatchedFile[SigningKey], issuer: str, service: str, ttl: int, refresh_ttl: int
    ) -> None:
        self.key = key
        self.issuer = issuer
        self.service = service
        self.ttl = max(ttl, 60)  # the token specification's minimum
        self.refresh_ttl = refresh_ttl

    def access_token(self, subject: str | None, access: list[Access]) -> IssuedToken:
        claims = {"access": [item.claim() for item in access]}
        return self._sign(subject or "", self.ttl, claims)

    def refresh_token(self, subject: str, fingerprint: str) -> str:
        return self._sign(subject, self.refresh_ttl, {"use": REFRESH, "pwd": fingerprint}).token

    def session_token(self, subject: str, ttl: int) -> str:
        """The web UI's session cookie: who signed in, no access of its own."""
        return self._sign(subject, ttl, {"use": SESSION}).token

    def _sign(self, subject: str, ttl: int, extra: dict[str, Any]) -> IssuedToken:
        key = self.key.current()
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(16),
            **extra,
        }
        headers = {"kid": key.kid, "typ": "JWT"}
        token = jwt.encode(claims, key.private, algorithm=key.algorithm, headers=headers)
        issued = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        return IssuedToken(token, ttl, issued)


class TokenVerifier:
    def __init__(
        self,
        service: str,
        leeway: int,
        own: tuple[str, WatchedFile[SigningKey]] | None,
        trusted: tuple[str, WatchedFile[list[VerifyingKey]]] | None,
    ) -> None:
        self.service = service
        self.leeway = leeway
        self.own = own
        self.trusted = trusted
        self._verified: OrderedDict[str, tuple[dict[str, Any], tuple[object, ...]]] = OrderedDict()

    def access(self, token: str) -> dict[str, Any]:
        keys = self._key_versions()
        remembered = self._verified.get(token)
        if remembered is not None and self._still_valid(remembered, keys):
            return remembered[0]
        claims = self._verify(token, self._all_keys)
        if claims.get("use") in (REFRESH, SESSION):
            raise InvalidToken(f"a {claims['use']} token is not an access token")
        self._verified[token] = (claims, keys)
        if len(self._verified) > REMEMBERED:
            self._verified.popitem(last=False)
        return claims

    def _key_versions(self) -> tuple[object, ...]:
        """The parsed key files; a reload makes new objects, which forgets what they verified."""
        return tuple(source[1].current() for source in (self.own, self.trusted) if source)

    def _still_valid(
        self, remembered: tuple[dict[str, Any], tuple[object, ...]], keys: tuple[object, ...]
    ) -> bool:
        claims, verified_with = remembered
        same_keys = len(keys) == len(verified_with) and all(
            a is b for a, b in zip(keys, verified_with, strict=True)
        )
        return same_keys and time.time() < claims["exp"] + self.leeway

    def session(self, token: str) -> str:
        """The user a web UI session cookie of this server names."""
        claims = self._verify(token, self._own_keys)
        if claims.get("use") != SESSION or not isinstance(claims.get("sub"), str):
            raise InvalidToken("not a session token")
        return str(claims["sub"])

    def refresh(self, token: str) -> dict[str, Any]:
        claims = self._verify(token, self._own_keys)
        if claims.get("use") != REFRESH or not isinstance(claims.get("sub"), str):
            raise InvalidToken("not a refresh token")
        return claims

    def _own_keys(self, issuer: object) -> list[VerifyingKey]:
        if self.own is None or issuer != self.own[0]:
            return []
        return [self.own[1].current().public]

    def _all_keys(self, issuer: object) -> list[VerifyingKey]:
        keys = self._own_keys(issuer)
        if self.trusted is not None and issuer == self.trusted[0]:
            keys.extend(self.trusted[1].current())
        return keys

    def _verify(
        self, token: str, keys_for: Callable[[object], list[VerifyingKey]]
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALLOWED or not isinstance(issuer, str):
            raise InvalidToken("algorithm not accepted, or no issuer")
        for key in keys_for(issuer):
            if algorithm in key.algorithms() and (kid is None or key.kid in (None, kid)):
                claims = self._decode(token, key, algorithm, issuer)
                if claims is not None:
                    return claims
        raise InvalidToken("no key of the issuer verifies the token")

    def _decode(
        self, token: str, key: VerifyingKey, algorithm: str, issuer: str
    ) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.service,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidSignatureError:
            return None  # perhaps another key of the issuer
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        return claims
