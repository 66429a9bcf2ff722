"""Who uses how much: GET /v2/_usage[?repository=NAME], an admin resource.

`{"repositories": [{"name", "manifests", "tags", "logical_bytes", "unique_bytes",
"shared_bytes"}], "totals": {...}, "quotas": [...]}`, the document
`artifact-store usage --json` prints (storage/usage_report.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from registry.http import storage
from registry.names import check_name
from storage import usage_report


async def show_usage(request: Request) -> Response:
    name = request.query_params.get("repository")
    store = storage(request)
    only = check_name(name) if name is not None else None
    found = await usage_report.report(store.db, store.blobs.policy, only)
    return JSONResponse(found.document())
