"""Bytes after a `Connection: close` request do not cost that request its answer (Hypercorn).

h11 raises a protocol error for any byte that arrives after the end of a request
that closes the connection, and Hypercorn answers that error with a 400 in place
of the response the app is still working on: a push was stored while its client
was told it failed. RFC 9112 (9.6) has a server ignore what follows such a
request, so the connection Hypercorn makes here reads nothing more once the
client's side must close, and the app's answer goes out.
"""

from __future__ import annotations

import types
from typing import Any

import h11
from hypercorn.protocol import h11 as hypercorn_h11


class ClosingConnection(h11.Connection):
    def next_event(self) -> Any:
        if self.their_state is h11.MUST_CLOSE:
            return h11.NEED_DATA  # what follows a closing request is not read
        return super().next_event()


class _H11(types.ModuleType):
    """h11 as Hypercorn's protocol module sees it: the same, with ClosingConnection."""

    Connection = ClosingConnection

    def __getattr__(self, name: str) -> Any:
        return getattr(h11, name)


def install() -> None:
    """Make Hypercorn's HTTP/1.1 connections ClosingConnections (idempotent)."""
    if not isinstance(getattr(hypercorn_h11, "h11", None), _H11):
        setattr(hypercorn_h11, "h11", _H11("h11"))  # noqa: B010 (not an exported name)
