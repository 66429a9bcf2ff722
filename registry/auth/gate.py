"""Admits a request: who is calling (none, Basic, Bearer), and may they do what it needs.

no credentials, not allowed          → 401 with a challenge
wrong password, bad or expired token → 401 with a challenge
signed-in user without permission    → 403 DENIED (Basic); with a token: 401
                                       error="insufficient_scope", so the client
                                       asks the token endpoint for the scope
too many failed logins from address  → 429 TOOMANYREQUESTS
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

from starlette.requests import Request

from registry.auth.grants import Grant, PolicyGrant, TokenGrant
from registry.auth.htpasswd import Htpasswd
from registry.auth.policy import ANONYMOUS, Policy, Principal
from registry.auth.rules import Requirement
from registry.auth.scopes import from_claims
from registry.auth.throttle import LoginThrottle
from registry.auth.tokens import InvalidToken, TokenVerifier
from registry.errors import Denied, Unauthorized
from registry.names import NAME

log = logging.getLogger("artifact-store.auth")


@dataclass
class Gate:
    mode: str  # "basic" or "token"
    policy: Policy
    htpasswd: Htpasswd | None
    verifier: TokenVerifier | None
    throttle: LoginThrottle
    service: str
    realm: str | None  # token endpoint; None: this server's /token

    async def admit(self, request: Request, need: Requirement) -> Grant:
        grant = await self._authenticate(request, need)
        if not _satisfies(grant, need):
            if self.mode == "basic" and grant.presented:
                raise Denied(_detail(need))
            error = "insufficient_scope" if grant.presented else None
            raise Unauthorized(self.challenge(request, need, error), _detail(need))
        return grant

    async def identify(self, request: Request) -> Grant:
        """The caller's grant, whatever it may do (anonymous without credentials); 401 with a
        challenge for credentials that are wrong. The web UI asks this, then filters by it."""
        return await self._authenticate(request, Requirement())

    async def login(self, request: Request, user: str, password: str) -> str | None:
        """The user, if the password is right; failures count against the client address."""
        client = request.client.host if request.client else "unknown"
        self.throttle.reserve(client)
        if self.htpasswd is not None and user and await self.htpasswd.verify(user, password):
            self.throttle.succeeded(client)
            return user
        log.warning("failed login from %s", client)
        return None

    def challenge(self, request: Request, need: Requirement, error: str | None = None) -> str:
        if self.mode == "basic":
            return f'Basic realm="{self.service}", charset="UTF-8"'
        realm = self.realm or f"{request.base_url}token"
        params = [("realm", realm), ("service", self.service)]
        scope = " ".join(_scopes(need))
        params += [("scope", scope)] if scope else []
        params += [("error", error)] if error else []
        return "Bearer " + ",".join(f'{key}="{value}"' for key, value in params)

    async def _authenticate(self, request: Request, need: Requirement) -> Grant:
        header = request.headers.get("authorization")
        if header is None:
            return PolicyGrant(self.policy, ANONYMOUS)
        scheme, _, value = header.strip().partition(" ")
        if self.mode == "basic" and scheme.lower() == "basic":
            user = await self.login(request, *basic_credentials(value))
            if user is not None:
                return PolicyGrant(self.policy, Principal(user))
        if self.mode == "token" and scheme.lower() == "bearer" and self.verifier is not None:
            try:
                claims = self.verifier.access(value.strip())
            except InvalidToken as exc:
                log.info("rejected a bearer token: %s", exc)
            else:
                subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
                return TokenGrant(from_claims(claims.get("access")), self.policy, subject or None)
        error = "invalid_token" if self.mode == "token" else None
        raise Unauthorized(self.challenge(request, need, error), "invalid credentials")


def _satisfies(grant: Grant, need: Requirement) -> bool:
    if need.catalog:
        return grant.may_list_catalog()
    if need.admin is not None:
        return grant.is_admin(need.admin)
    if need.repository is not None and need.action is not None:
        return grant.allows(need.repository, need.action)
    return grant.presented


def _scopes(need: Requirement) -> list[str]:
    if need.catalog:
        return ["registry:catalog:*"]
    if need.admin is not None:
        return [f"registry:{need.admin}:*"]
    if need.repository is None or need.action is None or not NAME.fullmatch(need.repository):
        return []
    actions = "pull,push" if need.action == "push" else need.action
    found = [f"repository:{need.repository}:{actions}"]
    if need.mount_from and NAME.fullmatch(need.mount_from):
        found.append(f"repository:{need.mount_from}:pull")
    return found


def _detail(need: Requirement) -> list[dict[str, str]] | str:
    if need.catalog:
        return [{"Type": "registry", "Name": "catalog", "Action": "*"}]
    if need.admin is not None:
        return [{"Type": "registry", "Name": need.admin, "Action": "*"}]
    if need.repository is None or need.action is None:
        return "credentials required"
    return [{"Type": "repository", "Name": need.repository[:256], "Action": need.action}]


def basic_credentials(value: str) -> tuple[str, str]:
    """(user, password) of a Basic credential; empty strings when it is malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password
