"""Blobs by digest: HEAD, GET (with a single byte range, or a redirect) and DELETE."""

from __future__ import annotations

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from registry.http import actor, byte_range, path_digest, repository, storage
from storage import layout
from storage.objects import opened, redirect_url


class BlobEndpoint(HTTPEndpoint):
    async def head(self, request: Request) -> Response:
        digest = path_digest(request)
        blob = await storage(request).blobs.resolve(repository(request), digest)
        return Response(headers=_headers(str(digest), blob.size))

    async def get(self, request: Request) -> Response:
        digest = path_digest(request)
        blobs = storage(request).blobs
        blob = await blobs.resolve(repository(request), digest)
        elsewhere = await redirect_url(blobs.objects, layout.blob_key(blob.key))
        if elsewhere is not None:  # the object store serves the bytes (and the Range) itself
            return RedirectResponse(elsewhere, 307, {"Docker-Content-Digest": str(digest)})
        window = byte_range(request.headers.get("range"), blob.size)
        if window is None:
            body = await opened(blobs.read(blob))
            return StreamingResponse(body, headers=_headers(str(digest), blob.size))
        start, end = window
        headers = _headers(str(digest), end - start)
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        body = await opened(blobs.read(blob, start, end))
        return StreamingResponse(body, status_code=206, headers=headers)

    async def delete(self, request: Request) -> Response:
        await storage(request).blobs.unlink(
            repository(request), path_digest(request), actor(request)
        )
        return Response(status_code=202)


def _headers(digest: str, length: int) -> dict[str, str]:
    return {
        "Content-Length": str(length),
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": digest,
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
    }
