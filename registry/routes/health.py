"""Probes for load balancers and orchestrators, outside /v2/ and its auth.

/healthz  liveness: the process answers (restart it when this fails); says its version
/readyz   readiness: the metadata database and the object store answer too
          (send it traffic only then); 503 with the failing checks otherwise. A server
          whose data directory is on a full disk is ready (it serves pulls) and says
          `"read_only": "<why>"`; it answers writes 507 until space is freed
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from registry.http import storage
from registry.version import package_version
from storage.health import OK, check


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": OK, "version": package_version()})


async def ready(request: Request) -> JSONResponse:
    store = storage(request)
    checks = await check(store.db, store.objects)
    ready = all(state == OK for state in checks.values())
    body: dict[str, object] = {"status": OK if ready else "unavailable", "checks": checks}
    reason = request.app.state.write_gate.reason
    if reason is not None:
        body["read_only"] = reason
    return JSONResponse(body, status_code=200 if ready else 503)
