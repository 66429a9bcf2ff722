"""Admits every /v2/ request through the gate before it reaches a handler."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.auth.access import admit
from registry.auth.gate import Gate
from registry.auth.rules import requirement
from registry.errors import RequestError, handle_error


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
            return await (await handle_error(request, exc))(scope, receive, send)
        await self.app(scope, receive, send)
