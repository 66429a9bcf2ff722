"""Listings: tags of a repository, the catalog, and referrers of a subject."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from manifests.mediatypes import OCI_INDEX
from manifests.referrers import referrers_index
from registry.auth.access import catalog_filter
from registry.errors import SizeInvalid
from registry.http import ascii_int, path_digest, repository, storage
from storage.manifest_store import Page

# The most entries one page lists; a larger `n` is served as this many (docs/security.md).
MAX_PAGE = 10_000


async def list_tags(request: Request) -> Response:
    name = repository(request)
    n, last = _paging(request)
    page = await storage(request).manifests.list_tags(name, n, last)
    return _page_response(request, {"name": name, "tags": page.items}, page, n)


async def list_repositories(request: Request) -> Response:
    n, last = _paging(request)
    page = await storage(request).manifests.catalog(n, last, catalog_filter(request))
    return _page_response(request, {"repositories": page.items}, page, n)


async def list_referrers(request: Request) -> Response:
    name, subject = repository(request), path_digest(request)
    artifact_type = request.query_params.get("artifactType")
    found = await storage(request).manifests.referrers(name, subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(referrers_index(found), media_type=OCI_INDEX, headers=headers)


def _paging(request: Request) -> tuple[int | None, str | None]:
    """`n`: ASCII digits only, at most MAX_PAGE (more is served as MAX_PAGE)."""
    n = request.query_params.get("n")
    if n is None:
        return None, request.query_params.get("last")
    count = ascii_int(n)
    if count is None:
        raise SizeInvalid({"n": n})
    return min(count, MAX_PAGE), request.query_params.get("last")


def _page_response(
    request: Request, content: dict[str, object], page: Page, n: int | None
) -> Response:
    response = JSONResponse(content)
    if page.more and page.items:
        query = urlencode({"n": n, "last": page.items[-1]})
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    return response
