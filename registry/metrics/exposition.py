"""`/metrics` in Prometheus text format: on the API address (guarded like the API, the
admin grant `metrics` when auth is on), or on `metrics_addr` by a listener of its own.

With several processes the collectors read the run's metrics directory, so any
process (a worker answering /metrics, or the process that started the workers
serving metrics_addr) shows the whole server.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from registry.config import ConfigError, Settings, split_addr
from registry.metrics import multiprocess
from registry.metrics.requests import TALLY, RequestCollector


@functools.cache
def collector_registry() -> CollectorRegistry:
    directory = multiprocess.directory()
    if directory is None:
        REGISTRY.register(RequestCollector())
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(RequestCollector(directory))
    return registry


def render() -> bytes:
    return generate_latest(collector_registry())


async def metrics(request: Request) -> Response:
    directory = multiprocess.directory()
    if directory is None:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)
    # This process's newest counts (the others' are up to a second old), then every
    # process's files, read off the event loop.
    await asyncio.to_thread(TALLY.save, directory)
    return Response(await asyncio.to_thread(render), media_type=CONTENT_TYPE_LATEST)


def listen(settings: Settings) -> WSGIServer | None:
    """Serve /metrics on metrics_addr from a thread of this process; None when not set."""
    if settings.metrics_addr is None:
        return None
    host, port = split_addr(settings.metrics_addr, "metrics_addr")
    try:
        server, _thread = start_http_server(port, host, registry=collector_registry())
    except OSError as exc:  # in use, or not an address of this host
        raise ConfigError(f"cannot serve metrics on {settings.metrics_addr}: {exc}") from exc
    return server


async def save_every(directory: Path, seconds: float = 1.0) -> None:
    """Write this process's request counts for the other processes' collectors."""
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(TALLY.save, directory)
