"""`serve`: the start-up sequence, in the parent process, before any worker starts.

  logging ─► (preflight) ─► migrations, once ─► auth files ─► the address, once ─► server
                                                                                  │
                granian: forks its workers (each binds addr with SO_REUSEPORT) ◄──┤
                Hypercorn: serves the bound socket itself, or spawns workers ◄────┘
                           that share it (registry/serving/supervisor.py)

Workers open storage without migrating; SIGTERM or SIGINT to the parent stops them
all gracefully; the exit status is 0 after such a stop.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from registry.auth.setup import build as build_auth
from registry.auth.setup import insecure_listen_warning
from registry.config import Settings
from registry.serving import listener, process
from storage.database import default_url, migrate_url

log = logging.getLogger("artifact-store")


def serve(settings: Settings) -> int:
    process.prepare(settings)
    # The start-up checks (preflight) belong here: once, before anything is bound.
    revision = asyncio.run(migrate_url(_metadata_url(settings), Path(settings.data_dir)))
    log.info("metadata schema at revision %s", revision)
    build_auth(settings)  # reads the auth files, and creates the token key once for all
    warning = insecure_listen_warning(settings)
    if warning:
        log.warning("%s", warning)
    return _run_server(settings)


def _run_server(settings: Settings) -> int:
    workers = settings.worker_count
    log.info(
        "artifact-store on %s (%s, %d worker%s), data in %s",
        settings.addr,
        settings.server,
        workers,
        "" if workers == 1 else "s",
        settings.data_dir,
    )
    if settings.server == "granian":
        from registry.serving import granian_server

        return granian_server.run(settings, listener.check_free(settings))
    from registry.serving import hypercorn_server

    return hypercorn_server.run(settings, listener.bind(settings))


def _metadata_url(settings: Settings) -> str:
    return settings.metadata_url or default_url(Path(settings.data_dir))
