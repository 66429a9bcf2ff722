"""The address the registry listens on, taken once by the first process, so that an
address that cannot be had is reported once (registry/preflight/address.py words
it), before any worker starts."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from registry.config import Settings
from registry.preflight import bind_error

BACKLOG = 1024


@dataclass(frozen=True)
class Address:
    family: socket.AddressFamily
    ip: str  # numeric: granian takes no host names
    port: int


def resolve(settings: Settings) -> Address:
    host, port = settings.host_port
    try:
        found = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG
        )
    except socket.gaierror as exc:
        raise bind_error(exc, settings.addr) from exc
    family, _, _, _, sockaddr = found[0]
    return Address(family, str(sockaddr[0]), port)


def bind(settings: Settings) -> socket.socket:
    """A listening socket on addr that worker processes inherit and accept from."""
    sock = _listen(resolve(settings), settings.addr)
    sock.set_inheritable(True)
    return sock


def check_free(settings: Settings) -> Address:
    """Bind addr and let it go again: for a server whose workers bind it themselves
    (SO_REUSEPORT). A socket without SO_REUSEPORT cannot share the port, so this also
    fails when another server's workers already listen there."""
    address = resolve(settings)
    _listen(address, settings.addr).close()
    return address


def _listen(address: Address, shown: str) -> socket.socket:
    try:
        return socket.create_server(
            (address.ip, address.port), family=address.family, backlog=BACKLOG
        )
    except OSError as exc:
        raise bind_error(exc, shown) from exc
