"""The event log, page by page: GET /v2/_events?after=SEQ&n=N.

Events after the cursor SEQ (0: from the start), oldest first, at most N (default
100, at most 1000): `{"events": [{"seq": ..., "time": ..., "action": ..., ...}]}` in
JSON, or the same document in canonical CBOR when the client accepts
`application/cbor`. A full page carries a `Link` to the next one; a client that
follows the log asks again with `after` set to the last seq it got.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from registry.errors import SizeInvalid
from registry.http import storage
from storage import events

CBOR = "application/cbor"
DEFAULT_PAGE = 100
MAX_PAGE = 1000


async def list_events(request: Request) -> Response:
    after, n = _number(request, "after", 0), min(_number(request, "n", DEFAULT_PAGE), MAX_PAGE)
    page = await events.after(storage(request).db, after, n) if n else []
    if CBOR in request.headers.get("accept", ""):
        records = [event.record() for event in page]
        response = Response(events.canonical({"events": records}), media_type=CBOR)
    else:
        body = '{"events": [' + ", ".join(event.json() for event in page) + "]}"
        response = Response(body, media_type="application/json")
    if page and len(page) == n:
        query = urlencode({"after": page[-1].seq, "n": n})
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    return response


def _number(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # within 64 bits
        raise SizeInvalid({name: value[:40]})
    return int(value)
