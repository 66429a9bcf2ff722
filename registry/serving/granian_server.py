"""granian: HTTP/1.1 and h2c (prior knowledge; no Upgrade: h2c); with TLS, HTTP/2 by ALPN.

granian manages its worker processes itself: it forks them after the parent has
checked the address, each binds addr with SO_REUSEPORT (the kernel spreads new
connections over them), a worker that dies is started again, and SIGTERM or
SIGINT stops them all gracefully. Its Rust core parses HTTP, and full-blob GETs
go out through the `http.response.pathsend` extension without passing through
Python.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, Loops, SSLProtocols
from granian.http import HTTP1Settings, HTTP2Settings
from granian.log import LogLevels
from granian.server import Server

from registry import logs
from registry.config import Settings
from registry.serving import process
from registry.serving.listener import Address
from registry.serving.worker import worker_app

GRACEFUL_TIMEOUT = 10  # seconds a worker has to finish its requests at shutdown
# granian's buffer per connection (HTTP/1.1) or stream (HTTP/2), both ways: a slow reader
# holds about this much of a response, not its whole blob, and a request body arrives in
# pieces of at most this size. Measured with one worker (1,000 stalled readers of a 16 MiB
# blob; a 512 MiB push): 16 KiB, 453 MiB and 95 MB/s; 128 KiB, 452 MiB and 290-330 MB/s;
# 256 KiB, 707 MiB and 358 MB/s.
RESPONSE_BUFFER = 128 * 1024


def run(settings: Settings, address: Address) -> int:
    server = Server(
        "registry.app:create_app",  # shown in logs only: workers take the app from the loader
        address=address.ip,
        port=address.port,
        interface=Interfaces.ASGI,
        workers=settings.worker_count,
        loop=Loops.auto,  # uvloop where installed
        http=HTTPModes.auto,
        http1_settings=HTTP1Settings(max_buffer_size=RESPONSE_BUFFER),
        http2_settings=HTTP2Settings(max_send_buffer_size=RESPONSE_BUFFER),
        websockets=False,
        log_level=LogLevels(settings.log_level),
        log_dictconfig=logs.dict_config(settings),  # granian's records through ours
        log_access=False,  # the request middleware writes the access line
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_TIMEOUT,
        **_tls(settings),
    )
    loader = functools.partial(_worker, settings, os.getpid())
    server.serve(target_loader=loader, wrap_loader=False)
    return 0


def _worker(settings: Settings, parent: int) -> Any:
    """Run in each worker process before it serves."""
    process.prepare_worker(settings, parent)
    return worker_app(settings)


def _tls(settings: Settings) -> dict[str, Any]:
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    return {
        "ssl_cert": Path(settings.tls_cert),
        "ssl_key": Path(settings.tls_key),
        "ssl_protocol_min": SSLProtocols.tls12,  # as Hypercorn and Go clients accept
    }
