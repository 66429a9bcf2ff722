"""The cap on requests served at a time by one process (setting max_requests).

Past the cap a request is refused at once with 503 UNAVAILABLE, Retry-After and
Connection: close, before it reads a byte of its body or opens a file: a crowd
of slow clients costs their sockets, not the descriptors and memory that
requests being served hold. Health and metrics stay answered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from registry.errors import TooManyRequests, error_response

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            refused = TooManyRequests({"max_requests": self.limit})
            return await error_response(refused, scope["method"], {})(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
