"""Manifests by tag or digest: HEAD, GET, PUT (with multi-tag push) and DELETE."""

from __future__ import annotations

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response

from manifests.digest import is_digest_reference
from manifests.mediatypes import MAX_MANIFEST_BYTES
from registry.errors import ManifestTooLarge
from registry.http import actor, content_length, repository, storage
from registry.names import TAG, check_reference, check_tag
from registry.proxy.routing import cached_manifest, refuse_pushes
from storage.errors import ManifestUnknown
from storage.manifest_store import StoredManifest


class ManifestEndpoint(HTTPEndpoint):
    async def head(self, request: Request) -> Response:
        reference = _reference(request)
        name = await cached_manifest(request, repository(request), reference)
        stored = await storage(request).manifests.stat(name, reference)
        return Response(headers=_headers(stored))

    async def get(self, request: Request) -> Response:
        reference = _reference(request)
        name = await cached_manifest(request, repository(request), reference)
        stored, content = await storage(request).manifests.get(name, reference)
        return Response(content, headers=_headers(stored))

    async def put(self, request: Request) -> Response:
        name, reference = repository(request), check_reference(request.path_params["reference"])
        refuse_pushes(request, name)
        tags = [check_tag(t) for t in request.query_params.getlist("tag")]
        if not is_digest_reference(reference):
            tags.insert(0, reference)
        content = await _read_manifest(request)
        stored = await storage(request).manifests.put(
            name, reference, content, request.headers.get("content-type"), tags, actor(request)
        )
        location = request.app.url_path_for("manifest", name=name, reference=stored.digest)
        response = Response(status_code=201, headers={"Location": str(location)})
        response.headers["Docker-Content-Digest"] = stored.digest
        if stored.subject:
            response.headers["OCI-Subject"] = stored.subject
        for tag in dict.fromkeys(tags):
            response.headers.append("OCI-Tag", tag)
        return response

    async def delete(self, request: Request) -> Response:
        name, reference = repository(request), _reference(request)
        await storage(request).manifests.delete(name, reference, actor(request))
        return Response(status_code=202)


def _reference(request: Request) -> str:
    """A reference to look up: a malformed tag is simply one that does not exist."""
    reference: str = request.path_params["reference"]
    if is_digest_reference(reference):
        return check_reference(reference)
    if not TAG.fullmatch(reference):
        raise ManifestUnknown({"reference": reference[:200]})
    return reference


def _headers(stored: StoredManifest) -> dict[str, str]:
    return {
        "Content-Type": stored.media_type,
        "Content-Length": str(stored.size),
        "Docker-Content-Digest": stored.digest,
        "ETag": f'"{stored.digest}"',
    }


async def _read_manifest(request: Request) -> bytes:
    declared = content_length(request)
    if declared is not None and declared > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge({"limit": MAX_MANIFEST_BYTES})
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge({"limit": MAX_MANIFEST_BYTES})
        parts.append(chunk)
    return b"".join(parts)
