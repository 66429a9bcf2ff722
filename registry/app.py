"""The Starlette application: every route in one list, storage opened at startup."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.auth.rules import CATALOG, DELETE, PUBLIC, PULL, PUSH, SIGNED_IN, GuardedRoute
from registry.auth.setup import build as build_auth
from registry.config import Settings
from registry.errors import draining_send, exception_handlers, track_body
from registry.routes import base, blobs, health, listings, manifests, uploads
from storage.store import Storage

NAME = "/v2/{name:path}"

G = GuardedRoute
routes = [
    G("/v2/", base.version_check, access={"GET": SIGNED_IN}),
    G("/v2/_catalog", listings.list_repositories, access={"GET": CATALOG}),
    G(f"{NAME}/tags/list", listings.list_tags, access={"GET": PULL}, name="tags"),
    G(
        f"{NAME}/manifests/{{reference}}",
        manifests.ManifestEndpoint,
        access={"GET": PULL, "PUT": PUSH, "DELETE": DELETE},
        name="manifest",
    ),
    G(f"{NAME}/blobs/uploads/", uploads.start_upload, access={"POST": PUSH}, name="uploads"),
    G(f"{NAME}/blobs/uploads", uploads.start_upload, access={"POST": PUSH}),
    G(
        f"{NAME}/blobs/uploads/{{upload_id}}",
        uploads.UploadEndpoint,
        access={"GET": PUSH, "PATCH": PUSH, "PUT": PUSH, "DELETE": PUSH},
        name="upload",
    ),
    G(
        f"{NAME}/blobs/{{digest}}",
        blobs.BlobEndpoint,
        access={"GET": PULL, "DELETE": DELETE},
        name="blob",
    ),
    G(
        f"{NAME}/referrers/{{digest}}",
        listings.list_referrers,
        access={"GET": PULL},
        name="referrers",
    ),
    G("/healthz", health.live, access={"GET": PUBLIC}, name="liveness"),
    G("/readyz", health.ready, access={"GET": PUBLIC}, name="readiness"),
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
    served = [*routes, *(auth.routes() if auth else [])]
    return Starlette(
        routes=served,
        middleware=[Middleware(ApiVersionHeader), *([auth.middleware(served)] if auth else [])],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
