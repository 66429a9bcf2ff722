"""The access a /v2/ request needs, from the route it matches and its method.

One table, so handlers carry no permission checks of their own; the two that
depend on data (the catalog filter, a mount's source) ask the grant (access.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

READ = frozenset({"GET", "HEAD"})
ANY = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})

# (route path suffix, methods, action); the first match wins
ACTIONS: list[tuple[str, frozenset[str], str]] = [
    ("/blobs/uploads/{upload_id}", ANY, "push"),
    ("/blobs/uploads/", ANY, "push"),
    ("/blobs/uploads", ANY, "push"),
    ("/manifests/{reference}", READ, "pull"),
    ("/manifests/{reference}", frozenset({"PUT"}), "push"),
    ("/manifests/{reference}", frozenset({"DELETE"}), "delete"),
    ("/blobs/{digest}", READ, "pull"),
    ("/blobs/{digest}", frozenset({"DELETE"}), "delete"),
    ("/tags/list", READ, "pull"),
    ("/referrers/{digest}", READ, "pull"),
]
CATALOG_PATH = "/v2/_catalog"


@dataclass(frozen=True)
class Requirement:
    """repository + action; or the catalog; or, with neither, valid credentials only."""

    repository: str | None = None
    action: str | None = None
    catalog: bool = False
    mount_from: str | None = None  # a mount also asks for pull here (and falls back without)


def requirement(routes: Sequence[BaseRoute], scope: Scope) -> Requirement | None:
    """None for paths outside /v2/ (the token endpoint), which pass unchecked."""
    if not scope["path"].startswith("/v2/"):
        return None
    template, name = _match(routes, scope)
    if template == CATALOG_PATH:
        return Requirement(catalog=True)
    if template is None or name is None:
        return Requirement()
    action = _action(template, scope["method"])
    mount_from = None
    if action == "push" and scope["method"] == "POST":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        mount_from = query["from"][0] if "mount" in query and "from" in query else None
    return Requirement(name, action, mount_from=mount_from)


def _match(routes: Sequence[BaseRoute], scope: Scope) -> tuple[str | None, str | None]:
    partial: tuple[str | None, str | None] = (None, None)
    for route in routes:
        match, child = route.matches(scope)
        found = (getattr(route, "path", None), child.get("path_params", {}).get("name"))
        if match == Match.FULL:
            return found
        if match == Match.PARTIAL and partial == (None, None):
            partial = found
    return partial


def _action(template: str, method: str) -> str | None:
    for suffix, methods, action in ACTIONS:
        if template.endswith(suffix) and method in methods:
            return action
    return None
