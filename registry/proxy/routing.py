"""Which requests the pull-through cache answers: those for a repository under an upstream's
prefix, or for any repository with `?ns=HOST` naming an upstream's namespace (a
containerd mirror). The resource modules ask here; with no upstreams configured,
every answer is "not a cache" at the cost of one attribute read."""

from __future__ import annotations

from starlette.requests import Request

from registry.errors import CacheReadOnly
from registry.proxy.cache import PullThroughCache
from registry.proxy.upstreams import Route


def cache(request: Request) -> PullThroughCache | None:
    found: PullThroughCache | None = getattr(request.app.state, "proxy", None)
    return found


def cache_route(request: Request, name: str) -> Route | None:
    """The upstream the repository caches, when it is a cache."""
    proxy = cache(request)
    if proxy is None:
        return None
    return proxy.upstreams.route(name, request.query_params.get("ns"))


def refuse_pushes(request: Request, name: str) -> None:
    """A push into a cached repository is refused: its content is upstream's."""
    proxy = cache(request)
    if proxy is not None and proxy.upstreams.is_cache(name):
        raise CacheReadOnly({"name": name, "reason": "a cache of an upstream registry"})


async def cached_manifest(request: Request, name: str, reference: str) -> str:
    """The repository to read the manifest from: a cache's, made current first."""
    route = cache_route(request, name)
    if route is None:
        return name
    proxy = cache(request)
    assert proxy is not None
    await proxy.manifest(route, reference)
    return route.local
