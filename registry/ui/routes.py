"""The pages of the web UI and their route list; every page is a GET and changes nothing.

/ui/                                        repositories (filter ?q=, page ?after=)
/ui/repositories/<name>                     its tags (page ?after=)
/ui/repositories/<name>/-/manifests/<ref>   one manifest by tag or digest, with its referrers
/ui/store                                   store totals and recent events
/ui/login, /ui/logout                       sign in and out (a form in token mode)

"-" cannot start a path component of a repository name, so "/-/" never belongs to one.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from manifests.digest import InvalidDigest, is_digest_reference
from manifests.parse import ManifestInvalid
from registry.auth.rules import PUBLIC, GuardedRoute
from registry.errors import Denied, TooManyFailures, Unauthorized
from registry.http import storage
from registry.names import MAX_NAME, NAME, TAG
from registry.ui import links, login
from registry.ui.render import page, platform_names, referrer_kind
from registry.ui.viewer import Viewer, viewer
from storage.browsing import Browsing
from storage.errors import ManifestUnknown, NameUnknown

REPOSITORIES_PAGE = 50
TAGS_PAGE = 100
RECENT_EVENTS = 20
STYLESHEET = Path(__file__).parent / "static" / "style.css"

Handler = Callable[[Request], Awaitable[Response]]


class PageNotFound(Exception):
    pass


class NotAllowed(Exception):
    """The viewer may not see the page (and is not told whether what it names exists)."""


def html_errors(handler: Handler) -> Handler:
    """Turns what a page cannot show into an HTML error page with the right status."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except (PageNotFound, NameUnknown, ManifestUnknown, InvalidDigest, ManifestInvalid):
            return page(request, "error.html", 404, title="Not found", viewer=None)
        except (NotAllowed, Denied):
            return await _refused(request)
        except Unauthorized as exc:
            return _challenge(request, exc.challenge)
        except TooManyFailures as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            return page(request, "error.html", 429, headers, title="Too many failed sign-ins")

    return wrapped


async def _refused(request: Request) -> Response:
    seen = await viewer(request)
    if seen.signed_in:
        return page(request, "error.html", 403, title="Not allowed", viewer=seen)
    if seen.mode == "basic":
        return _challenge(request, request.app.state.ui_auth.challenge(request))
    return page(request, "error.html", 401, title="Sign in to see this", viewer=seen)


def _challenge(request: Request, challenge: str) -> Response:
    headers = {"WWW-Authenticate": challenge}
    return page(request, "error.html", 401, headers, title="Sign in to see this", viewer=None)


def browsing(request: Request) -> Browsing:
    """One per opened storage, made on first use (it keeps what it parsed)."""
    state, store = request.app.state, storage(request)
    found: Browsing | None = getattr(state, "ui_browsing", None)
    if found is None or found.db is not store.db:
        found = state.ui_browsing = Browsing(store.db, store.manifests)
    return found


def repository_name(request: Request, seen: Viewer) -> str:
    name: str = request.path_params["name"]
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise PageNotFound
    if not seen.may_pull(name):
        raise NotAllowed
    return name


def after(request: Request) -> str | None:
    return request.query_params.get("after") or None


@html_errors
async def repositories_page(request: Request) -> Response:
    seen = await viewer(request)
    contains = request.query_params.get("q", "")[:MAX_NAME]
    found = await browsing(request).repositories(
        after(request), REPOSITORIES_PAGE, contains, seen.visible()
    )
    return page(request, "repositories.html", viewer=seen, page=found, q=contains)


@html_errors
async def repository_page(request: Request) -> Response:
    seen = await viewer(request)
    name = repository_name(request, seen)
    found = await browsing(request).tags(name, after(request), TAGS_PAGE)
    host = request.url.netloc
    return page(request, "repository.html", viewer=seen, name=name, page=found, host=host)


@html_errors
async def manifest_page(request: Request) -> Response:
    seen = await viewer(request)
    name = repository_name(request, seen)
    reference: str = request.path_params["reference"]
    if not is_digest_reference(reference) and not TAG.fullmatch(reference):
        raise PageNotFound
    details = await browsing(request).manifest(name, reference)
    return page(
        request,
        "manifest.html",
        viewer=seen,
        name=name,
        reference=reference,
        m=details,
        host=request.url.netloc,
        platform_names=platform_names,
        referrer_kind=referrer_kind,
    )


@html_errors
async def store_page(request: Request) -> Response:
    seen = await viewer(request)
    if not seen.may_see_store():
        raise NotAllowed
    views = browsing(request)
    totals = await views.totals()
    recent = await views.recent_events(RECENT_EVENTS) if seen.may_see_events() else None
    return page(request, "store.html", viewer=seen, totals=totals, events=recent)


async def stylesheet(request: Request) -> Response:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=300"})


async def to_index(request: Request) -> Response:
    return RedirectResponse(request.url_for("ui"), status_code=308)


@html_errors
async def not_found(request: Request) -> Response:
    raise PageNotFound


# The pages check the viewer themselves (they show what the policy lets it pull), so the
# gate of /v2/ lets every request through to them.
G = GuardedRoute
OPEN = {"GET": PUBLIC}
SIGN_IN = {"GET": PUBLIC, "POST": PUBLIC}
routes = [
    G("/ui", to_index, access=OPEN),
    G("/ui/", repositories_page, access=OPEN, name="ui"),
    G("/ui/style.css", stylesheet, access=OPEN, name="ui-style"),
    G("/ui/store", store_page, access=OPEN, name="ui-store"),
    G("/ui/login", html_errors(login.sign_in), access=SIGN_IN, name="ui-login"),
    G("/ui/logout", login.sign_out, access={"POST": PUBLIC}, name="ui-logout"),
    G(links.MANIFEST_ROUTE, manifest_page, access=OPEN, name="ui-manifest"),
    G(links.REPOSITORY_ROUTE, repository_page, access=OPEN, name="ui-repository"),
    G("/ui/{rest:path}", not_found, access=OPEN),
]
