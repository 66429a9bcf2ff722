"""The Starlette application: every route in one list, storage opened at startup."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware

from registry.auth.rules import (
    CATALOG,
    DELETE,
    PUBLIC,
    PULL,
    PUSH,
    SIGNED_IN,
    GuardedRoute,
    admin,
)
from registry.auth.setup import build as build_auth
from registry.background import running
from registry.config import Settings
from registry.errors import exception_handlers
from registry.metrics import exposition
from registry.notifications.sinks import parse_sinks
from registry.observe import RequestObserver
from registry.pulls import PullRecorder
from registry.read_only import ReadOnly
from registry.routes import base, blobs, events, health, listings, manifests, uploads
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
    # After the repository routes, which it cannot match: manifest GETs try fewer patterns.
    G("/v2/_events", events.list_events, access={"GET": admin("events")}, name="events"),
    G("/healthz", health.live, access={"GET": PUBLIC}, name="liveness"),
    G("/readyz", health.ready, access={"GET": PUBLIC}, name="readiness"),
]


# Served on the API address unless metrics_addr names one of its own.
METRICS = G("/metrics", exposition.metrics, access={"GET": admin("metrics")}, name="metrics")


def create_app(settings: Settings, *, migrate: bool = True) -> Starlette:
    """The app; its lifespan opens storage (migrating first unless `migrate` is False)."""
    sinks = parse_sinks(settings.notifications)
    pulls = PullRecorder() if settings.pull_events else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.storage = await Storage.open(
            Path(settings.data_dir), settings.metadata_url, settings.s3, migrate=migrate
        )
        try:
            async with running(settings, app.state.storage, sinks, pulls):
                yield
        finally:
            await app.state.storage.close()

    auth = build_auth(settings)
    metrics = [METRICS] if settings.metrics_addr is None else []
    served = [*routes, *metrics, *(auth.routes() if auth else [])]
    observer = Middleware(RequestObserver, routes=served, pulls=pulls)
    read_only = [Middleware(ReadOnly)] if settings.read_only else []
    return Starlette(
        routes=served,
        middleware=[observer, *read_only, *([auth.middleware(served)] if auth else [])],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
