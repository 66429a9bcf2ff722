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
from registry.auth.setup import Auth
from registry.auth.setup import build as build_auth
from registry.background import running
from registry.config import Settings
from registry.errors import exception_handlers
from registry.full_disk import WriteGate
from registry.limits import RequestLimit
from registry.metrics import exposition
from registry.notifications.sinks import parse_sinks
from registry.observe import RequestObserver
from registry.policy_rules import storage_policy
from registry.preflight import data_dir
from registry.proxy.cache import PullThroughCache
from registry.proxy.upstreams import Upstreams, parse_upstreams
from registry.pulls import PullRecorder
from registry.read_only import ReadOnly
from registry.routes import base, blobs, events, health, listings, manifests, uploads, usage
from registry.ui import routes as ui
from registry.ui.viewer import UIAuth
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
    G("/v2/_usage", usage.show_usage, access={"GET": admin("usage")}, name="usage"),
    G("/healthz", health.live, access={"GET": PUBLIC}, name="liveness"),
    G("/readyz", health.ready, access={"GET": PUBLIC}, name="readiness"),
]


# Served on the API address unless metrics_addr names one of its own.
METRICS = G("/metrics", exposition.metrics, access={"GET": admin("metrics")}, name="metrics")


def create_app(settings: Settings, *, migrate: bool = True) -> Starlette:
    """The app; its lifespan opens storage (migrating first unless `migrate` is False)."""
    sinks = parse_sinks(settings.notifications)
    pulls = PullRecorder() if settings.pull_events else None
    upstreams = parse_upstreams(settings.upstream)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.storage = await Storage.open(
            Path(settings.data_dir),
            settings.metadata_url,
            settings.s3,
            migrate=migrate,
            policy=storage_policy(settings),
            verify_reads=settings.verify_reads,
        )
        app.state.storage.uploads.max_sessions = settings.max_upload_sessions
        app.state.storage.uploads.max_sessions_per_client = settings.max_upload_sessions_per_client
        app.state.proxy = _pull_through(app.state.storage, upstreams)
        try:
            async with running(settings, app.state.storage, sinks, pulls, gate):
                yield
        finally:
            if app.state.proxy is not None:
                await app.state.proxy.close()
            await app.state.storage.close()

    auth = build_auth(settings)
    metrics = [METRICS] if settings.metrics_addr is None else []
    pages = ui.routes if settings.ui else []
    served = [*routes, *metrics, *(auth.routes() if auth else []), *pages]
    observer = Middleware(
        RequestObserver, routes=served, pulls=pulls, body_timeout=settings.body_timeout
    )
    limit = Middleware(RequestLimit, limit=settings.max_requests)
    gate = WriteGate(Path(settings.data_dir) if data_dir.uses(settings) else None)
    read_only = Middleware(ReadOnly, gate=None if settings.read_only else gate)
    app = Starlette(
        routes=served,
        middleware=[observer, limit, read_only, *([auth.middleware(served)] if auth else [])],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.zero_copy_pulls = settings.zero_copy_pulls
    app.state.write_gate = gate
    app.state.ui_auth = ui_auth(auth, settings)
    return app


def ui_auth(auth: Auth | None, settings: Settings) -> UIAuth | None:
    """What the web UI checks its viewers with: None when auth is off."""
    if auth is None:
        return None
    issuer = auth.endpoint.issuer if auth.endpoint else None
    return UIAuth(auth.gate, issuer, int(settings.ui_session_ttl))


def _pull_through(storage: Storage, upstreams: Upstreams) -> PullThroughCache | None:
    """The cache of the configured upstreams; None when there are none."""
    return PullThroughCache(storage, upstreams, storage.file_locks) if upstreams else None
