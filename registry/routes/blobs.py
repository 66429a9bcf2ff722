"""Blobs by digest: HEAD, GET (with a single byte range, or a redirect) and DELETE."""

from __future__ import annotations

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from registry.http import actor, byte_range, path_digest, repository, storage
from storage.blobs import BlobContent, BlobRedirect


class BlobEndpoint(HTTPEndpoint):
    async def head(self, request: Request) -> Response:
        digest = path_digest(request)
        blob = await storage(request).blobs.resolve(repository(request), digest)
        return Response(headers=_headers(str(digest), blob.size))

    async def get(self, request: Request) -> Response:
        digest = path_digest(request)
        blobs = storage(request).blobs
        blob = await blobs.resolve(repository(request), digest)
        window = byte_range(request.headers.get("range"), blob.size)
        content = await (blobs.open(blob) if window is None else blobs.open(blob, *window))
        return _response(content, str(digest), ranged=window is not None)

    async def delete(self, request: Request) -> Response:
        await storage(request).blobs.unlink(
            repository(request), path_digest(request), actor(request)
        )
        return Response(status_code=202)


def _response(content: BlobContent, digest: str, ranged: bool) -> Response:
    if isinstance(content, BlobRedirect):  # the object store serves the bytes (and the Range)
        return RedirectResponse(content.url, 307, {"Docker-Content-Digest": digest})
    headers = _headers(digest, content.end - content.start)
    if not ranged:
        return StreamingResponse(content.chunks, headers=headers)
    headers["Content-Range"] = f"bytes {content.start}-{content.end - 1}/{content.size}"
    return StreamingResponse(content.chunks, status_code=206, headers=headers)


def _headers(digest: str, length: int) -> dict[str, str]:
    return {
        "Content-Length": str(length),
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
    }
