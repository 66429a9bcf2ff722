"""The built-in token endpoint (Docker token authentication specification).

GET  /token?service=…&scope=…[&offline_token=true]   Basic credentials, or none for
                                                     an anonymous token
POST /token   grant_type=password (username, password) or refresh_token (refresh_token),
              service, client_id, scope (space-separated), access_type=offline

The token grants each requested scope only as far as the policy allows;
what it leaves out the registry answers with 401 insufficient_scope.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry.auth.gate import Gate, basic_credentials
from registry.auth.htpasswd import Htpasswd
from registry.auth.policy import ACTIONS, ANONYMOUS, Principal
from registry.auth.rules import PUBLIC, GuardedRoute
from registry.auth.scopes import Access, parse_scopes
from registry.auth.tokens import InvalidToken, TokenIssuer, TokenVerifier
from registry.errors import TokenRequestInvalid, Unauthorized

MAX_FORM_BYTES = 64 * 1024


@dataclass
class TokenEndpoint:
    gate: Gate
    htpasswd: Htpasswd
    issuer: TokenIssuer
    verifier: TokenVerifier

    def routes(self) -> list[GuardedRoute]:
        public = {"GET": PUBLIC, "POST": PUBLIC}  # credentials, if any, are checked here
        return [GuardedRoute("/token", self.handle, access=public, name="token")]

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.oauth(request)
        params = request.query_params
        self._check_service(params.get("service"))
        user = await self._basic_user(request)
        access = self._grant(user, parse_scopes(params.getlist("scope")))
        body = self._body(user, access, offline=params.get("offline_token") == "true")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def oauth(self, request: Request) -> Response:
        form = await read_form(request)
        self._check_service(form.get("service"))
        grant_type = form.get("grant_type")
        if grant_type == "password":
            user = await self._password_user(request, form)
            offline = form.get("access_type") == "offline"
        elif grant_type == "refresh_token":
            user, offline = self._refresh_user(request, form.get("refresh_token", "")), False
        else:
            raise TokenRequestInvalid({"grant_type": grant_type})
        access = self._grant(user, parse_scopes([form.get("scope", "")]))
        body = self._body(user, access, offline)
        if grant_type == "refresh_token":
            body["refresh_token"] = form["refresh_token"]  # still valid: the client keeps it
        body["scope"] = " ".join(str(item) for item in access)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _grant(self, user: str | None, requested: list[Access]) -> list[Access]:
        principal = Principal(user) if user else ANONYMOUS
        policy = self.gate.policy
        granted = []
        for item in requested:
            if item.type == "registry" and item.name != "catalog":
                granted += [item] if policy.is_admin(principal) else []
                continue
            if item.type == "registry":
                allowed = user is not None or policy.may_pull_somewhere(principal)
                granted += [item] if allowed else []
                continue
            wanted = frozenset(ACTIONS) if "*" in item.actions else item.actions
            actions = wanted & policy.actions(principal, item.name)
            granted += [Access(item.type, item.name, actions)] if actions else []
        return granted

    def _body(self, user: str | None, access: list[Access], offline: bool) -> dict[str, Any]:
        issued = self.issuer.access_token(user, access)
        body: dict[str, Any] = {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
        }
        fingerprint = self.htpasswd.fingerprint(user) if user else None
        if offline and user and fingerprint:
            body["refresh_token"] = self.issuer.refresh_token(user, fingerprint)
        return body

    async def _basic_user(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, value = header.strip().partition(" ")
        user = None
        if scheme.lower() == "basic":
            user = await self.gate.login(request, *basic_credentials(value))
        if user is None:
            raise self._unauthorized(request)
        return user

    async def _password_user(self, request: Request, form: dict[str, str]) -> str:
        user = await self.gate.login(request, form.get("username", ""), form.get("password", ""))
        if user is None:
            raise self._unauthorized(request)
        return user

    def _refresh_user(self, request: Request, token: str) -> str:
        try:
            claims = self.verifier.refresh(token)
        except InvalidToken as exc:
            raise self._unauthorized(request) from exc
        user: str = claims["sub"]
        fingerprint = self.htpasswd.fingerprint(user)
        if fingerprint is None or not _same(fingerprint, claims.get("pwd")):
            raise self._unauthorized(request)
        return user

    def _check_service(self, service: str | None) -> None:
        if service is not None and service != self.gate.service:
            raise TokenRequestInvalid({"service": service[:200]})

    def _unauthorized(self, request: Request) -> Unauthorized:
        challenge = f'Basic realm="{self.gate.service}", charset="UTF-8"'
        return Unauthorized(challenge, "invalid credentials")


async def read_form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise TokenRequestInvalid("form too large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _same(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
