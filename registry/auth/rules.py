"""The access a request needs, declared on the route it matches.

Each route of the app is a `GuardedRoute` that names, per method, the access
it needs: an action on the repository in the path (pull, push, delete), the
catalog, any valid credentials, an admin grant, or nothing (probes, the token
endpoint). The table lives with the routes, so a route cannot be added without
saying what it needs (a test holds every route to it); handlers carry no
permission checks of their own. The two checks that depend on data (the
catalog filter, a mount's source) ask the grant (access.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

PULL, PUSH, DELETE = "pull", "push", "delete"
CATALOG = "catalog"  # the repository listing, filtered by what the caller may pull
ADMIN = "admin"  # registry-wide reads: "admin:events" is the admin grant on events
SIGNED_IN = "signed-in"  # any valid credentials, no particular permission
PUBLIC = "public"  # no credentials asked
REPOSITORY_ACTIONS = frozenset({PULL, PUSH, DELETE})
ACCESS = frozenset({*REPOSITORY_ACTIONS, CATALOG, SIGNED_IN, PUBLIC})


def admin(resource: str) -> str:
    """The access of a registry-wide resource for admins; tokens carry it as the scope
    `registry:<resource>:*`."""
    return f"{ADMIN}:{resource}"


class GuardedRoute(Route):
    """A route with the access each of its methods needs; HEAD needs what GET needs."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        access: Mapping[str, str],
        name: str | None = None,
    ) -> None:
        needs = {method.upper(): kind for method, kind in access.items()}
        if "GET" in needs:
            needs.setdefault("HEAD", needs["GET"])
        unknown = {k for k in needs.values() if k not in ACCESS and not k.startswith(ADMIN + ":")}
        assert not unknown, f"{path}: unknown access {unknown}"
        super().__init__(path, endpoint, methods=list(needs), name=name)
        self.access = needs


@dataclass(frozen=True)
class Requirement:
    """repository + action; or the catalog; or an admin resource; with none of them,
    valid credentials."""

    repository: str | None = None
    action: str | None = None
    catalog: bool = False
    admin: str | None = None  # the registry-wide resource: "events", "usage", ...
    mount_from: str | None = None  # a mount also asks for pull here (and falls back without)


def requirement(routes: Sequence[BaseRoute], scope: Scope) -> Requirement | None:
    """What the request needs; None when it needs nothing (a public route, or a path
    outside /v2/ that no route guards)."""
    route, match, name = _match(routes, scope)
    if not isinstance(route, GuardedRoute):
        return Requirement() if scope["path"].startswith("/v2/") else None
    kind = route.access.get(scope["method"], SIGNED_IN) if match == Match.FULL else SIGNED_IN
    if kind == PUBLIC:
        return None
    if kind == CATALOG:
        return Requirement(catalog=True)
    if kind.startswith(ADMIN + ":"):
        return Requirement(admin=kind.removeprefix(ADMIN + ":"))
    if kind not in REPOSITORY_ACTIONS or name is None:
        return Requirement()
    return Requirement(name, kind, mount_from=_mount_source(scope, kind))


def _mount_source(scope: Scope, action: str) -> str | None:
    if action != PUSH or scope["method"] != "POST":
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query["from"][0] if "mount" in query and "from" in query else None


def _match(routes: Sequence[BaseRoute], scope: Scope) -> tuple[BaseRoute | None, Match, str | None]:
    partial: tuple[BaseRoute | None, Match, str | None] = (None, Match.NONE, None)
    for route in routes:
        match, child = route.matches(scope)
        name = child.get("path_params", {}).get("name")
        if match == Match.FULL:
            return route, match, name
        if match == Match.PARTIAL and partial[0] is None:
            partial = (route, match, name)
    return partial
