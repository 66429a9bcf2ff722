"""The Starlette application: every route in one list, storage opened at startup."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.auth.setup import build as build_auth
from registry.config import Settings
from registry.errors import draining_send, exception_handlers, track_body
from registry.routes import base, blobs, health, listings, manifests, uploads
from storage.store import Storage

NAME = "/v2/{name:path}"

routes = [
    Route("/v2/", base.version_check, methods=["GET", "HEAD"]),
    Route("/v2/_catalog", listings.list_repositories, methods=["GET"]),
    Route(f"{NAME}/tags/list", listings.list_tags, methods=["GET"], name="tags"),
    Route(f"{NAME}/manifests/{{reference}}", manifests.ManifestEndpoint, name="manifest"),
    Route(f"{NAME}/blobs/uploads/", uploads.start_upload, methods=["POST"], name="uploads"),
    Route(f"{NAME}/blobs/uploads", uploads.start_upload, methods=["POST"]),
    Route(f"{NAME}/blobs/uploads/{{upload_id}}", uploads.UploadEndpoint, name="upload"),
    Route(f"{NAME}/blobs/{{digest}}", blobs.BlobEndpoint, name="blob"),
    Route(
        f"{NAME}/referrers/{{digest}}", listings.list_referrers, methods=["GET"], name="referrers"
    ),
    Route("/healthz", health.live, methods=["GET", "HEAD"], name="liveness"),
    Route("/readyz", health.ready, methods=["GET", "HEAD"], name="readiness"),
]


class ApiVersionHeader:
    """Every response says which API it speaks; every request body is tracked so that
    an error answered before the body was read can drain it (errors.track_body), and
    the end of such an answer cannot stall behind the unread body (errors.draining_send)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"docker-distribution-api-version", b"registry/2.0"),
                ]
            await send(message)

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        tracked = await track_body(scope, receive)
        await self.app(scope, tracked, draining_send(scope, tracked, send_with_header))


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.storage = await Storage.open(
            Path(settings.data_dir), settings.metadata_url, settings.s3
        )
        try:
            yield
        finally:
            await app.state.storage.close()

    auth = build_auth(settings)
    return Starlette(
        routes=routes + (auth.routes() if auth else []),
        middleware=[Middleware(ApiVersionHeader), *([auth.middleware(routes)] if auth else [])],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
