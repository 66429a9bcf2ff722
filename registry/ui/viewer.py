"""Who is looking at the UI, and which repositories the auth policy lets them see.

With auth off everyone sees everything. In basic mode the browser sends the same
Basic credentials the API takes (the UI answers pages it may not show an anonymous
caller with a Basic challenge). In token mode a sign-in form sets a session
cookie: a token this server signs for the user, HttpOnly and SameSite=Strict.
Either way the grant is the policy's for that user, as the catalog filter uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from registry.auth.gate import Gate
from registry.auth.grants import EVERYTHING, Grant, PolicyGrant
from registry.auth.policy import ANONYMOUS, Principal
from registry.auth.rules import Requirement
from registry.auth.tokens import InvalidToken, TokenIssuer

SESSION_COOKIE = "artifact_store_ui"


@dataclass(frozen=True)
class Viewer:
    grant: Grant
    mode: str  # the auth mode: none, basic or token

    @property
    def user(self) -> str | None:
        return self.grant.subject

    @property
    def signed_in(self) -> bool:
        return self.mode != "none" and self.grant.presented

    def may_pull(self, repository: str) -> bool:
        return self.grant.allows(repository, "pull")

    def visible(self) -> Callable[[str], bool] | None:
        return self.grant.pullable()

    def may_see_store(self) -> bool:
        return self.grant.is_admin("usage")

    def may_see_events(self) -> bool:
        return self.grant.is_admin("events")


@dataclass
class UIAuth:
    """The gate of /v2/, and in token mode what signs and checks session cookies."""

    gate: Gate
    issuer: TokenIssuer | None = None  # token mode with this server's own users only
    session_ttl: int = 8 * 3600

    @property
    def mode(self) -> str:
        return self.gate.mode

    async def viewer(self, request: Request) -> Viewer:
        if self.mode == "basic":
            return Viewer(await self.gate.identify(request), self.mode)
        return Viewer(PolicyGrant(self.gate.policy, self._session_user(request)), self.mode)

    def challenge(self, request: Request) -> str:
        """The Basic challenge of /v2/, which makes a browser ask for a password."""
        return self.gate.challenge(request, Requirement())

    def session_cookie(self, user: str) -> str:
        assert self.issuer is not None
        return self.issuer.session_token(user, self.session_ttl)

    def _session_user(self, request: Request) -> Principal:
        token = request.cookies.get(SESSION_COOKIE)
        if not token or self.gate.verifier is None:
            return ANONYMOUS
        try:
            user = self.gate.verifier.session(token)
        except InvalidToken:
            return ANONYMOUS
        return Principal(user)


async def viewer(request: Request) -> Viewer:
    auth: UIAuth | None = request.app.state.ui_auth
    return Viewer(EVERYTHING, "none") if auth is None else await auth.viewer(request)
