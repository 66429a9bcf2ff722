"""Which requests the pull-through cache answers: those for a repository under an upstream's
prefix, for any repository with `?ns=HOST` naming an upstream's namespace (a
containerd mirror), and, when an upstream is the default, those for a repository
under no prefix that this registry cannot answer itself (a Docker mirror). The
resource modules ask here; with no upstreams configured, every answer is "not a
cache" at the cost of one attribute read."""

from __future__ import annotations

from starlette.requests import Request

from manifests.digest import Digest
from registry.errors import CacheReadOnly
from registry.http import storage
from registry.proxy.cache import PullThroughCache
from registry.proxy.upstreams import Route
from storage.errors import BlobUnknown

Cached = tuple[PullThroughCache, Route]


def cache(request: Request) -> PullThroughCache | None:
    found: PullThroughCache | None = getattr(request.app.state, "proxy", None)
    return found


def refuse_pushes(request: Request, name: str) -> None:
    """A push into a cached repository is refused: its content is upstream's."""
    proxy = cache(request)
    if proxy is not None and proxy.upstreams.is_cache(name):
        raise CacheReadOnly({"name": name, "reason": "a cache of an upstream registry"})


async def cached_manifest(request: Request, name: str, reference: str) -> str:
    """The repository to read the manifest from: a cache's, made current first."""
    proxy = cache(request)
    route = _route(proxy, request, name)
    if proxy is None or route is None:
        return name
    if route.fallback and await proxy.has_manifest(name, reference):
        return name  # the default upstream stands behind what this registry hosts
    await proxy.manifest(route, reference)
    return route.local


async def blob_cache(request: Request, name: str, digest: Digest) -> Cached | None:
    """The cache that answers for the blob; None when the repository itself does."""
    proxy = cache(request)
    route = _route(proxy, request, name)
    if proxy is None or route is None:
        return None
    if route.fallback and await _has_blob(request, name, digest):
        return None
    return proxy, route


def _route(proxy: PullThroughCache | None, request: Request, name: str) -> Route | None:
    if proxy is None:
        return None
    found = proxy.upstreams.route(name, request.query_params.get("ns"))
    return found if found is not None else proxy.upstreams.fallback(name)


async def _has_blob(request: Request, name: str, digest: Digest) -> bool:
    try:
        await storage(request).blobs.resolve(name, digest)
    except BlobUnknown:
        return False
    return True
