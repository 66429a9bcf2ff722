"""Every route says which access each of its methods needs; requirements derive from that."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from registry.app import create_app, routes
from registry.auth.rules import ACCESS, ADMIN, GuardedRoute, Requirement, requirement
from registry.config import Settings
from tests.auth.helpers import load_settings, write_htpasswd


def _served(settings: Settings) -> list[Route]:
    return [r for r in create_app(settings).routes if isinstance(r, Route)]


def test_every_route_declares_the_access_of_each_method(tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "secret"})
    settings = load_settings(tmp_path, auth="token", auth_htpasswd=str(htpasswd))
    served = _served(settings)
    assert {r.path for r in served} >= {r.path for r in routes} | {"/token"}
    for route in served:
        assert isinstance(route, GuardedRoute), route.path
        assert route.methods is not None
        assert set(route.access) == set(route.methods), route.path
        for kind in route.access.values():
            assert kind in ACCESS or kind.startswith(ADMIN + ":"), (route.path, kind)


def scope(method: str, path: str, query: bytes = b"") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "query_string": query}


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        pytest.param("GET", "/v2/", b"", Requirement(), id="base"),
        pytest.param("GET", "/v2/_catalog", b"", Requirement(catalog=True), id="catalog"),
        pytest.param("GET", "/v2/a/b/tags/list", b"", Requirement("a/b", "pull"), id="tags"),
        pytest.param("HEAD", "/v2/a/manifests/v1", b"", Requirement("a", "pull"), id="head"),
        pytest.param("PUT", "/v2/a/manifests/v1", b"", Requirement("a", "push"), id="put"),
        pytest.param("DELETE", "/v2/a/manifests/v1", b"", Requirement("a", "delete"), id="del"),
        pytest.param("POST", "/v2/a/blobs/uploads/", b"", Requirement("a", "push"), id="post"),
        pytest.param(
            "POST",
            "/v2/a/blobs/uploads/",
            b"mount=sha256:x&from=b",
            Requirement("a", "push", mount_from="b"),
            id="mount",
        ),
        pytest.param("PATCH", "/v2/a/blobs/uploads/u", b"", Requirement("a", "push"), id="patch"),
        pytest.param("GET", "/v2/a/blobs/sha256:x", b"", Requirement("a", "pull"), id="blob"),
        pytest.param("DELETE", "/v2/a/blobs/sha256:x", b"", Requirement("a", "delete"), id="bdel"),
        pytest.param("GET", "/v2/a/referrers/sha256:x", b"", Requirement("a", "pull"), id="refs"),
        pytest.param("POST", "/v2/a/manifests/v1", b"", Requirement(), id="wrong-method"),
        pytest.param("GET", "/v2/nothing-here", b"", Requirement(), id="unknown-v2-path"),
        pytest.param("GET", "/healthz", b"", None, id="probe"),
        pytest.param("GET", "/elsewhere", b"", None, id="outside-v2"),
    ],
)
def test_requirements(method: str, path: str, query: bytes, expected: Requirement | None) -> None:
    assert requirement(routes, scope(method, path, query)) == expected


def test_admin_routes_need_the_admin_grant() -> None:
    guarded = [GuardedRoute("/v2/_events", lambda r: None, access={"GET": f"{ADMIN}:events"})]
    assert requirement(guarded, scope("GET", "/v2/_events")) == Requirement(admin="events")
