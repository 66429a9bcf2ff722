"""Blobs by digest: HEAD, GET (with a single byte range, or a redirect) and DELETE."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from registry.http import actor, byte_range, path_digest, repository, storage
from registry.proxy.cache import BlobFetch
from registry.proxy.routing import blob_cache
from storage.blobs import BlobContent, BlobFile, BlobRedirect

# The ASGI extension by which the server sends a file itself (granian has it, Hypercorn not).
PATHSEND = "http.response.pathsend"


class BlobEndpoint(HTTPEndpoint):
    async def head(self, request: Request) -> Response:
        digest = path_digest(request)
        cached = await blob_cache(request, repository(request), digest)
        if cached is not None:
            proxy, route = cached
            return _head_cached(await proxy.blob_size(route, digest), str(digest))
        blobs = storage(request).blobs
        blob = await blobs.resolve(repository(request), digest)
        await blobs.check_stored(blob)
        return Response(headers=_headers(str(digest), blob.size))

    async def get(self, request: Request) -> Response:
        digest = path_digest(request)
        blobs = storage(request).blobs
        cached = await blob_cache(request, repository(request), digest)
        blob = await (
            blobs.resolve(repository(request), digest)
            if cached is None
            else cached[0].blob(cached[1], digest)
        )
        if isinstance(blob, BlobFetch):  # on its way from upstream: streamed as it comes
            return _fetching(blob, str(digest))
        window = byte_range(request.headers.get("range"), blob.size)
        if window is None:
            content = await blobs.open(blob, as_file=_sends_files(request))
        else:
            content = await blobs.open(blob, *window)
        return _response(content, str(digest), ranged=window is not None)

    async def delete(self, request: Request) -> Response:
        await storage(request).blobs.unlink(
            repository(request), path_digest(request), actor(request)
        )
        return Response(status_code=202)


class FileSent(Response):
    """A body the server sends from a file itself (ASGI pathsend): no byte through Python."""

    def __init__(self, path: str, headers: Mapping[str, str]) -> None:
        super().__init__(headers=headers)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        await send({"type": PATHSEND, "path": self.path})


def _sends_files(request: Request) -> bool:
    zero_copy: bool = request.app.state.zero_copy_pulls
    return zero_copy and PATHSEND in request.scope.get("extensions", {})


def _response(content: BlobContent, digest: str, ranged: bool) -> Response:
    if isinstance(content, BlobRedirect):  # the object store serves the bytes (and the Range)
        return RedirectResponse(content.url, 307, {"Docker-Content-Digest": digest})
    if isinstance(content, BlobFile):
        return FileSent(content.path, _headers(digest, content.size))
    headers = _headers(digest, content.end - content.start)
    if not ranged:
        return StreamingResponse(content.chunks, headers=headers)
    headers["Content-Range"] = f"bytes {content.start}-{content.end - 1}/{content.size}"
    return StreamingResponse(content.chunks, status_code=206, headers=headers)


def _fetching(fetch: BlobFetch, digest: str) -> Response:
    headers = _headers(digest, fetch.size or 0)
    if fetch.size is None:
        del headers["Content-Length"]
    return StreamingResponse(fetch.chunks(), headers=headers)


def _head_cached(size: int | None, digest: str) -> Response:
    headers = _headers(digest, size or 0)
    if size is None:
        del headers["Content-Length"]
    return Response(headers=headers)


def _headers(digest: str, length: int) -> dict[str, str]:
    return {
        "Content-Length": str(length),
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
    }
