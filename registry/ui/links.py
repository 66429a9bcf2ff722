"""The paths of the pages that listings link to by the hundred, built by formatting.

Starlette's url_path_for tries every route of the app in turn for each link; a
page of 100 tags links 400 times, and the lookups cost more than the page's
queries. These paths are the routes' own (routes.py declares its routes with
them, and a test checks each link against url_path_for).
"""

from __future__ import annotations

from urllib.parse import quote

REPOSITORY_ROUTE = "/ui/repositories/{name:path}"
MANIFEST_ROUTE = "/ui/repositories/{name:path}/-/manifests/{reference}"


def repository(name: str) -> str:
    return "/ui/repositories/" + quote(name, safe="/")


def manifest(name: str, reference: object) -> str:
    return f"{repository(name)}/-/manifests/{quote(str(reference), safe=':')}"
