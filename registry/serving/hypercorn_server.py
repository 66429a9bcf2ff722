"""Hypercorn: HTTP/1.1 and h2c (prior knowledge and Upgrade); with TLS, HTTP/2 by ALPN.

It serves the socket the parent bound: in the parent itself with one worker, else
in worker processes under the Supervisor, forked from the parent once it has
migrated and bound (single-threaded then), so each inherits the socket.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Coroutine
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from registry.config import Settings
from registry.serving import h11_close, process
from registry.serving.supervisor import Supervisor
from registry.serving.worker import worker_app

GRACEFUL_TIMEOUT = 10  # seconds for requests in flight at shutdown


def run(settings: Settings, sock: socket.socket) -> int:
    if settings.worker_count == 1:
        run_loop(serve_on(settings, sock))
        return 0
    fork = multiprocessing.get_context("fork")

    def start(number: int) -> Any:
        name = f"artifact-store worker {number}"
        args = (settings, sock, os.getpid())
        return fork.Process(target=serve_worker, args=args, name=name)

    return Supervisor(start, settings.worker_count, GRACEFUL_TIMEOUT + 5).run()


def serve_worker(settings: Settings, sock: socket.socket, parent: int) -> None:
    """A worker process: Hypercorn on the parent's socket until SIGTERM or SIGINT."""
    for sig in (signal.SIGTERM, signal.SIGINT):  # not the supervisor's handlers
        signal.signal(sig, signal.SIG_DFL)
    process.prepare_worker(settings, parent)
    run_loop(serve_on(settings, sock))


async def serve_on(settings: Settings, sock: socket.socket) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = hypercorn_config(settings)
    h11_close.install()
    tls = config.ssl_enabled
    sockets = Sockets([sock] if tls else [], [] if tls else [sock], [])
    # Starlette is an ASGI app; its types are looser than Hypercorn's scope unions
    app = wrap_app(worker_app(settings), config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    await worker_serve(app, config, sockets=sockets, shutdown_trigger=stop.wait)


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.loglevel = settings.log_level.upper()
    # The request middleware writes the access line; Hypercorn's own records go to its
    # logger, which propagates to the one handler of registry/logs.py.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.keep_alive_timeout = 75
    if settings.tls_cert is not None and settings.tls_key is not None:
        config.certfile = str(settings.tls_cert)
        config.keyfile = str(settings.tls_key)
        config.alpn_protocols = ["h2", "http/1.1"]
    return config


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
