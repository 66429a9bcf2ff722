"""Refusing writes: the read_only setting (maintenance: backups, migrations, moving the
data) answers every write to the API 405 UNSUPPORTED; a data directory on a full disk
(registry/full_disk.py) answers them 507 INSUFFICIENT_STORAGE until space is freed.
Reads go on in both."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.errors import error_body
from registry.full_disk import WriteGate

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REASON = "the registry is read-only for maintenance; pushes and deletes are refused"


class ReadOnly:
    def __init__(self, app: ASGIApp, gate: WriteGate | None = None) -> None:
        """`gate`: refuse writes only while it has a reason; None: always (the setting)."""
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_write(scope):
            refused = self._refusal()
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self) -> JSONResponse | None:
        # The body is not read: the connection closes after the answer.
        close = {"Connection": "close"}
        if self.gate is None:
            return JSONResponse(error_body("UNSUPPORTED", {"reason": REASON}), 405, close)
        if self.gate.reason is None:
            return None
        body = error_body("INSUFFICIENT_STORAGE", {"cause": self.gate.reason})
        return JSONResponse(body, 507, close)


def _is_write(scope: Scope) -> bool:
    return scope["method"] in WRITES and str(scope["path"]).startswith("/v2/")
