"""Blob uploads: open (or mount, or push whole), PATCH chunks, status, close, cancel."""

from __future__ import annotations

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response

from manifests.digest import HEX_LENGTHS, Digest, UnsupportedAlgorithm
from registry.auth.access import may_pull
from registry.http import (
    actor,
    body,
    client,
    content_length,
    has_body,
    repository,
    storage,
    upload_range,
)
from registry.proxy.routing import refuse_pushes
from storage.uploads import Upload


async def start_upload(request: Request) -> Response:
    name = repository(request)
    refuse_pushes(request, name)
    params = request.query_params
    store = storage(request)
    if "mount" in params and "from" in params:
        digest = Digest.parse(params["mount"])
        source = params["from"]
        # without pull on the source, exactly like a blob the source lacks: nothing leaks
        mountable = source != name and may_pull(request, source)
        if mountable and await store.blobs.mount(name, source, digest, actor(request)):
            return _created(request, name, digest)
    if "digest" in params:
        digest = Digest.parse(params["digest"])
        pushed = await store.uploads.push(
            name, digest, body(request), actor(request), content_length(request)
        )
        return _created(request, name, digest if digest.algorithm != "sha256" else pushed)
    algorithm = _algorithm(params.get("digest-algorithm"))
    upload = await store.uploads.start(name, algorithm, client(request))
    return _accepted(request, upload)


class UploadEndpoint(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        upload = await _session(request)
        return Response(status_code=204, headers=_upload_headers(request, upload))

    async def patch(self, request: Request) -> Response:
        start, length = _chunk_range(request)
        upload = await storage(request).uploads.append(
            repository(request), request.path_params["upload_id"], body(request), start, length
        )
        return _accepted(request, upload)

    async def put(self, request: Request) -> Response:
        name, upload_id = repository(request), request.path_params["upload_id"]
        digest = Digest.parse(request.query_params.get("digest", ""))
        uploads = storage(request).uploads
        if has_body(request):
            start, length = _chunk_range(request)
            await uploads.finish(
                name, upload_id, digest, actor(request), body(request), start, length
            )
        else:
            await uploads.finish(name, upload_id, digest, actor(request))
        return _created(request, name, digest)

    async def delete(self, request: Request) -> Response:
        upload = await _session(request)
        await storage(request).uploads.cancel(upload)
        return Response(status_code=204)


async def _session(request: Request) -> Upload:
    return await storage(request).uploads.get(repository(request), request.path_params["upload_id"])


def _chunk_range(request: Request) -> tuple[int | None, int | None]:
    """Where a chunk claims to start (Content-Range) and how long it is, where said."""
    claimed = upload_range(request)
    return claimed if claimed else (None, content_length(request))


def _algorithm(value: str | None) -> str | None:
    if value is not None and value not in HEX_LENGTHS:
        raise UnsupportedAlgorithm(value)
    return value


def _created(request: Request, name: str, digest: Digest) -> Response:
    location = request.app.url_path_for("blob", name=name, digest=str(digest))
    headers = {"Location": str(location), "Docker-Content-Digest": str(digest)}
    return Response(status_code=201, headers=headers)


def _accepted(request: Request, upload: Upload) -> Response:
    return Response(status_code=202, headers=_upload_headers(request, upload))


def _upload_headers(request: Request, upload: Upload) -> dict[str, str]:
    location = request.app.url_path_for("upload", name=upload.repository, upload_id=upload.id)
    return {
        "Location": str(location),
        "Docker-Upload-UUID": upload.id,
        "Range": f"0-{max(upload.size - 1, 0)}",
    }
