"""Serve the app with Hypercorn (HTTP/1.1 and h2c; with TLS, HTTP/2 by ALPN) until SIGTERM
or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from registry import logs
from registry.app import create_app
from registry.auth.setup import insecure_listen_warning
from registry.config import Settings
from registry.metrics import exposition
from registry.preflight import bind_error, preflight

log = logging.getLogger("artifact-store")


def hypercorn_config(settings: Settings) -> Config:
    host, port = settings.host_port
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.loglevel = settings.log_level.upper()
    # Our access line (registry/observe.py) replaces Hypercorn's; its own records go to its
    # logger with no handler of its own, so the root's writes each once (registry/logs.py).
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 10
    config.keep_alive_timeout = 75
    if settings.tls_cert is not None and settings.tls_key is not None:
        config.certfile = str(settings.tls_cert)
        config.keyfile = str(settings.tls_key)
        config.alpn_protocols = ["h2", "http/1.1"]
    return config


def bound_sockets(config: Config, addr: str) -> Sockets:
    """The listening sockets, bound before the app starts; a failure is a StartupError."""
    try:
        return config.create_sockets()
    except OSError as exc:
        raise bind_error(exc, addr) from exc


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = hypercorn_config(settings)
    sockets = bound_sockets(config, settings.addr)
    log.info("artifact-store listening on %s, data in %s", settings.addr, settings.data_dir)
    app = wrap_app(create_app(settings), config.wsgi_max_body_size, None)  # type: ignore[arg-type]
    warning = insecure_listen_warning(settings)
    if warning:
        log.warning("%s", warning)
    await worker_serve(app, config, sockets=sockets, shutdown_trigger=stop.wait)


# mallopt(3) parameter: how many malloc arenas glibc may create.
M_ARENA_MAX = -8


def one_malloc_arena() -> None:
    """Keep glibc to one malloc arena. Blob chunks are read and hashed in worker threads;
    with an arena per thread, each arena keeps the megabyte buffers freed in it, which
    with many concurrent downloads adds up to well over 100 MiB of resident memory."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


def serve(settings: Settings) -> int:
    one_malloc_arena()
    logs.configure(settings)
    preflight(settings)
    metrics_listener = exposition.listen(settings)
    if metrics_listener is not None:
        log.info("metrics on http://%s/metrics", settings.metrics_addr)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(settings))
    else:
        uvloop.run(_serve(settings))
    finally:
        if metrics_listener is not None:
            metrics_listener.shutdown()
    return 0
