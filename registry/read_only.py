"""Read-only mode (the read_only setting): every write to the API answers 405 UNSUPPORTED,
reads go on. For maintenance windows: backups, migrations, moving the data."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.errors import error_body

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REASON = "the registry is read-only for maintenance; pushes and deletes are refused"


class ReadOnly:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_write(scope):
            body = error_body("UNSUPPORTED", {"reason": REASON})
            # The body is not read: the connection closes after the answer.
            refused = JSONResponse(body, status_code=405, headers={"Connection": "close"})
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_write(scope: Scope) -> bool:
    return scope["method"] in WRITES and str(scope["path"]).startswith("/v2/")
