"""`serve`: the start-up sequence, in the first process, before any worker starts.

  logging ─► preflight (data dir, TLS, auth files, object store, metadata: migrated)
          ─► the token signing key, made once ─► metrics_addr ─► addr, once ─► server
                                                                              │
              granian: forks its workers (each binds addr with SO_REUSEPORT) ◄┤
              Hypercorn: serves the bound socket itself, or forks workers ◄───┘
                         that share it (registry/serving/supervisor.py)

Workers open storage without migrating; SIGTERM or SIGINT to the first process
stops them all gracefully; the exit status is 0 after such a stop.
"""

from __future__ import annotations

import logging

from registry.auth.setup import build as build_auth
from registry.auth.setup import insecure_listen_warning
from registry.config import Settings
from registry.metrics import exposition
from registry.preflight import preflight
from registry.serving import listener, process

log = logging.getLogger("artifact-store")


def serve(settings: Settings) -> int:
    process.prepare(settings)
    preflight(settings)
    build_auth(settings)  # creates the token signing key, when it makes one, once for all
    metrics_listener = exposition.listen(settings)  # every worker's metrics, from here
    if metrics_listener is not None:
        log.info("metrics on http://%s/metrics", settings.metrics_addr)
    try:
        return _run_server(settings)
    finally:
        if metrics_listener is not None:
            metrics_listener.shutdown()


def _run_server(settings: Settings) -> int:
    if settings.server == "granian":
        from registry.serving import granian_server

        address = listener.check_free(settings)
        _announce(settings)
        return granian_server.run(settings, address)
    from registry.serving import hypercorn_server

    sock = listener.bind(settings)
    _announce(settings)
    return hypercorn_server.run(settings, sock)


def _announce(settings: Settings) -> None:
    """Once addr is ours: what serves, and a warning when it is open to others."""
    workers = settings.worker_count
    log.info(
        "artifact-store on %s (%s, %d worker%s), data in %s",
        settings.addr,
        settings.server,
        workers,
        "" if workers == 1 else "s",
        settings.data_dir,
    )
    warning = insecure_listen_warning(settings)
    if warning:
        log.warning("%s", warning)
