"""The listening address: what a failed bind means, and (for `check`) a trial bind."""

from __future__ import annotations

import asyncio
import errno
import socket

from registry.config import Settings
from registry.preflight.failure import CONFIGURATION, ENVIRONMENT, StartupError

# errno -> (what was found, the fix, exit status)
BIND_ERRORS: dict[int, tuple[str, str, int]] = {
    errno.EADDRINUSE: (
        "address already in use: another process listens on it",
        "stop that process, or set addr to a free port",
        ENVIRONMENT,
    ),
    errno.EACCES: (
        "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE",
        "set addr to a port from 1024 up (5000), or grant the capability",
        ENVIRONMENT,
    ),
    errno.EADDRNOTAVAIL: (
        "not an address of this host",
        "set addr to one of this host's addresses, 127.0.0.1 or 0.0.0.0",
        CONFIGURATION,
    ),
}


def bind_error(exc: OSError, addr: str) -> StartupError:
    """The StartupError for an OSError raised while binding `addr` (HOST:PORT)."""
    subject = f"addr {addr}"
    if isinstance(exc, socket.gaierror):
        fix = "set addr to an IP address or a name this host resolves"
        found = f"the host does not resolve ({exc.strerror})"
        return StartupError(subject, found, fix, CONFIGURATION)
    found, fix, status = BIND_ERRORS.get(
        exc.errno or 0, (exc.strerror or str(exc), "check addr", ENVIRONMENT)
    )
    return StartupError(subject, found, fix, status)


async def check(settings: Settings) -> str:
    """Bind the address and let it go again: would `serve` get it now?"""
    host, port = settings.host_port
    loop = asyncio.get_running_loop()
    try:
        family, kind, proto, _, address = (
            await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise bind_error(exc, settings.addr) from exc
    return f"{settings.addr} is free to listen on"
