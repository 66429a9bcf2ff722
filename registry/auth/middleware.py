"""Admits every /v2/ request through the gate before it reaches a handler."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.auth.access import admit
from registry.auth.gate import Gate
from registry.auth.rules import requirement
from registry.errors import RequestError, handle_error

# What is left of a refused request's body is read and dropped up to this size, so
# the connection can carry the client's retry; a larger body closes the connection
# (Go's net/http server does the same, with the same limit).
DRAIN_LIMIT = 256 * 1024


class AuthMiddleware:
    def __init__(self, app: ASGIApp, gate: Gate, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.gate = gate
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        need = requirement(self.routes, scope) if scope["type"] == "http" else None
        if need is None:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            admit(scope, await self.gate.admit(request, need))
        except RequestError as exc:  # rendered by the one error table, like any handler's
            response = await handle_error(request, exc)
            if not await _drained(request):
                response.headers["Connection"] = "close"
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


async def _drained(request: Request) -> bool:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        return False
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                return False
    except ClientDisconnect:
        return False
    return True
