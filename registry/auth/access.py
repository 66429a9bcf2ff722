"""What handlers ask about the admitted request's grant."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.types import Scope

from registry.auth.grants import EVERYTHING, Grant

SCOPE_KEY = "artifact_store.grant"


def grant(request: Request) -> Grant:
    found: Grant = request.scope.get(SCOPE_KEY, EVERYTHING)
    return found


def admit(scope: Scope, admitted: Grant) -> None:
    scope[SCOPE_KEY] = admitted


def may_pull(request: Request, repository: str) -> bool:
    return grant(request).allows(repository, "pull")


def catalog_filter(request: Request) -> Callable[[str], bool] | None:
    return grant(request).pullable()
