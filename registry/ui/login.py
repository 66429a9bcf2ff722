"""Signing in and out of the web UI.

Basic mode: /ui/login answers 401 with the Basic challenge until the browser sends
credentials, then goes back to the repositories; browsers keep Basic credentials
until they close, so there is nothing to sign out of. Token mode: a form whose
POST checks the password like the token endpoint does (same throttle) and sets
the session cookie; /ui/logout clears it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from registry.auth.endpoint import read_form
from registry.ui.render import page
from registry.ui.viewer import SESSION_COOKIE, UIAuth, viewer

SEE_OTHER = 303


async def sign_in(request: Request) -> Response:
    auth: UIAuth | None = request.app.state.ui_auth
    seen = await viewer(request)
    if auth is None or seen.signed_in:
        return _back(request)
    if auth.mode == "basic":
        headers = {"WWW-Authenticate": auth.challenge(request)}
        return page(request, "error.html", 401, headers, title="Sign in to see this", viewer=seen)
    if request.method == "GET" or auth.issuer is None:
        return page(request, "login.html", viewer=seen, failed=False, usable=auth.issuer)
    form = await read_form(request)
    user = await auth.gate.login(request, form.get("username", ""), form.get("password", ""))
    if user is None:
        return page(request, "login.html", 401, viewer=seen, failed=True, usable=auth.issuer)
    response = _back(request)
    response.set_cookie(
        SESSION_COOKIE,
        auth.session_cookie(user),
        max_age=auth.session_ttl,
        path="/ui",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def sign_out(request: Request) -> Response:
    response = _back(request)
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def _back(request: Request) -> Response:
    return RedirectResponse(request.url_for("ui"), status_code=SEE_OTHER)
