"""The registry's own lists, read straight from the server: the catalog and a tags list."""

from __future__ import annotations

import json
import re

from .live_registry import Registry, http_get


def catalog(registry: Registry) -> list[str]:
    """Every repository in GET /v2/_catalog, following the `Link` pages."""
    path: str | None = "/v2/_catalog?n=1000"
    names: list[str] = []
    while path is not None:
        status, headers, body = http_get(registry, path, accept="application/json")
        assert status == 200, f"GET {path} -> {status}: {body[:500]!r}"
        names += json.loads(body)["repositories"]
        link = re.match(r"<([^>]+)>", headers.get("link", ""))
        path = link.group(1) if link else None
    return names


def tags(registry: Registry, repository: str) -> list[str]:
    """The sorted tags of GET /v2/<repository>/tags/list."""
    status, _, body = http_get(registry, f"/v2/{repository}/tags/list", accept="application/json")
    assert status == 200, f"GET /v2/{repository}/tags/list -> {status}: {body[:500]!r}"
    return sorted(json.loads(body)["tags"])
