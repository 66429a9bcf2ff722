"""The one OCI error table, and the handler that renders every error body.

Storage and manifests raise domain errors; handlers raise the few request
errors below. ERRORS maps each to its OCI code and HTTP status, so no handler
carries its own try/except ladder.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from manifests.digest import InvalidDigest
from manifests.parse import ManifestInvalid
from storage import errors as storage_errors

MESSAGES: dict[str, str] = {
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "MANIFEST_BLOB_UNKNOWN": "manifest references a manifest or blob unknown to registry",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNKNOWN": "manifest unknown to registry",
    "NAME_INVALID": "invalid repository name",
    "NAME_UNKNOWN": "repository name not known to registry",
    "SIZE_INVALID": "provided length did not match content length",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNSUPPORTED": "the operation is unsupported",
    "TOOMANYREQUESTS": "too many requests",
    "RANGE_INVALID": "requested range not satisfiable",
    "UNAVAILABLE": "service unavailable",
    "INSUFFICIENT_STORAGE": "no space left to store the content",
}

log = logging.getLogger("artifact-store.errors")


class RequestError(Exception):
    def __init__(self, detail: object = None) -> None:
        super().__init__(detail)
        self.detail = detail


class NameInvalid(RequestError):
    pass


class TagInvalid(RequestError):
    pass


class SizeInvalid(RequestError):
    pass


class ManifestTooLarge(RequestError):
    pass


class RangeNotSatisfiable(RequestError):
    def __init__(self, size: int) -> None:
        super().__init__({"size": size})
        self.size = size


class UploadRangeInvalid(RequestError):
    """A malformed Content-Range on an upload chunk."""


class Unsupported(RequestError):
    pass


class Unauthorized(RequestError):
    """No credentials, wrong ones, or a token short of the scope: answered with a challenge."""

    def __init__(self, challenge: str, detail: object = None) -> None:
        super().__init__(detail)
        self.challenge = challenge


class Denied(RequestError):
    """Known credentials without the permission."""


class TooManyFailures(RequestError):
    """Too many failed logins from one client address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__({"retry_after": retry_after})
        self.retry_after = retry_after


class BodyTimeout(RequestError):
    """The client sent no byte of the request body for `body_timeout` seconds."""


class TooManyRequests(RequestError):
    """This process already serves `max_requests` requests."""


class UpstreamUnavailable(RequestError):
    """The upstream of a cached repository did not answer, or not as a registry should."""


class CacheReadOnly(RequestError):
    """A push into a repository that caches an upstream."""


class TokenRequestInvalid(RequestError):
    """A token request the token endpoint cannot serve (grant type, service, parameters)."""


# exception → (OCI code, HTTP status); the most specific class of an exception wins,
# whatever the order of the rows.
ERRORS: list[tuple[type[Exception], str, int]] = [
    (storage_errors.RangeInvalid, "BLOB_UPLOAD_INVALID", 416),
    (storage_errors.BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
    (storage_errors.BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
    (storage_errors.BlobUnknown, "BLOB_UNKNOWN", 404),
    (storage_errors.BlobIsManifest, "UNSUPPORTED", 405),
    (storage_errors.DigestMismatch, "DIGEST_INVALID", 400),
    (storage_errors.ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
    (storage_errors.ManifestUnknown, "MANIFEST_UNKNOWN", 404),
    (storage_errors.NameUnknown, "NAME_UNKNOWN", 404),
    (storage_errors.PolicyDenied, "DENIED", 403),
    (storage_errors.Unavailable, "UNAVAILABLE", 503),
    (storage_errors.BlobSwept, "UNAVAILABLE", 503),  # gc is deleting it: push it again
    (storage_errors.TooManyUploads, "TOOMANYREQUESTS", 429),
    (InvalidDigest, "DIGEST_INVALID", 400),
    (ManifestInvalid, "MANIFEST_INVALID", 400),
    (NameInvalid, "NAME_INVALID", 400),
    (TagInvalid, "MANIFEST_INVALID", 400),
    (SizeInvalid, "SIZE_INVALID", 400),
    (ManifestTooLarge, "SIZE_INVALID", 413),
    (RangeNotSatisfiable, "RANGE_INVALID", 416),
    (UploadRangeInvalid, "BLOB_UPLOAD_INVALID", 400),
    (Unsupported, "UNSUPPORTED", 405),
    (Unauthorized, "UNAUTHORIZED", 401),
    (Denied, "DENIED", 403),
    (TooManyFailures, "TOOMANYREQUESTS", 429),
    (TokenRequestInvalid, "UNSUPPORTED", 400),
    (BodyTimeout, "BLOB_UPLOAD_INVALID", 408),
    (TooManyRequests, "UNAVAILABLE", 503),
    (UpstreamUnavailable, "UNAVAILABLE", 503),
    (CacheReadOnly, "DENIED", 403),
    (ClientDisconnect, "BLOB_UPLOAD_INVALID", 400),
]


# An OSError for an exhausted resource → (OCI code, HTTP status); any other OSError is a fault.
EXHAUSTED: dict[int, tuple[str, int]] = {
    errno.ENOSPC: ("INSUFFICIENT_STORAGE", 507),
    errno.EDQUOT: ("INSUFFICIENT_STORAGE", 507),
    errno.EMFILE: ("UNAVAILABLE", 503),
    errno.ENFILE: ("UNAVAILABLE", 503),
    errno.ENOMEM: ("UNAVAILABLE", 503),
}


DRAIN_LIMIT = 256 * 1024
# Scope key: False while the request body is unread, True once read to its end (set by
# registry/observe.py's tracking receive; absent: no body to drain).
BODY_DONE = "artifact_store.body_done"


def error_body(code: str, detail: object = None, message: str | None = None) -> dict[str, Any]:
    """The OCI error document; `message` says more than the code's own (which rule refused)."""
    return {"errors": [{"code": code, "message": message or MESSAGES[code], "detail": detail}]}


_BY_CLASS = {kind: (code, status) for kind, code, status in ERRORS}
assert len(_BY_CLASS) == len(ERRORS), "one row per exception class"


def lookup(exc: Exception) -> tuple[str, int]:
    for kind in type(exc).__mro__:
        found = _BY_CLASS.get(kind)
        if found is not None:
            return found
    raise exc


async def handle_error(request: Request, exc: Exception) -> Response:
    drained = await _drained(request)
    return error_response(exc, request.method, {} if drained else {"Connection": "close"})


def error_response(exc: Exception, method: str, headers: dict[str, str]) -> Response:
    """The OCI answer to a mapped exception (no body for HEAD)."""
    code, status = lookup(exc)
    detail = exc.detail if hasattr(exc, "detail") else (str(exc) or None)
    headers = {**_extra_headers(exc), **headers}
    if method == "HEAD":
        return Response(status_code=status, headers=headers)
    message = exc.message if isinstance(exc, storage_errors.PolicyDenied) else None
    return JSONResponse(error_body(code, detail, message), status_code=status, headers=headers)


async def _drained(request: Request) -> bool:
    """Read and drop what is left of the body, so the connection can carry the next request.

    A body larger than DRAIN_LIMIT is not worth reading: the response closes the
    connection instead (Go's net/http server does the same, with the same limit).
    HTTP/2 has no such close for one stream, and Hypercorn fails the whole
    connection when body data comes for a stream it has answered: all of it is read.
    """
    if request.scope.get(BODY_DONE, True):
        return True
    limit = DRAIN_LIMIT if request.scope["http_version"] < "2" else math.inf
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return False
    size = 0
    try:
        while not request.scope[BODY_DONE]:
            message = await request.receive()
            size += len(message.get("body", b""))
            if message["type"] == "http.disconnect" or size > limit:
                return False
    except (ClientDisconnect, BodyTimeout):
        return False
    return True


def draining_send(scope: Scope, receive: Receive, send: Send) -> Send:
    """A send that, while it sends the end of a response given before the request body
    was all read, takes in and drops what of the body is still arriving.

    Hypercorn queues the body for the app in a bounded queue, and from inside the send
    that ends the response it puts `http.disconnect` on that same queue. If the app has
    stopped reading while the client kept sending, the queue is full: that send would
    never return, and the connection would stay open and unread, its client blocked
    writing the body and never reading the answer. Taking the queued messages lets the
    server finish the response and close the connection (the body is not complete).
    """

    async def send_draining(message: Message) -> None:
        if scope[BODY_DONE] or not _ends_response(message):
            return await send(message)
        drain = asyncio.ensure_future(_drop_body(receive))
        try:
            await send(message)
        finally:
            drain.cancel()

    return send_draining


def may_have_body(scope: Scope) -> bool:
    """HTTP/1.1 announces a body (RFC 9112 6.3); HTTP/2 may send one without a length."""
    length = b""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            length = value
    return length.strip() not in (b"", b"0") or (not length and scope["http_version"] >= "2")


def _ends_response(message: Message) -> bool:
    if message["type"] == "http.response.pathsend":
        return True
    return message["type"] == "http.response.body" and not message.get("more_body", False)


async def _drop_body(receive: Receive) -> None:
    """Receive until the server says the request is over."""
    with contextlib.suppress(Exception):
        while (await receive())["type"] == "http.request":
            pass


async def handle_http(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method) in the OCI shape."""
    assert isinstance(exc, HTTPException)
    code = "UNSUPPORTED" if exc.status_code == 405 else "NAME_UNKNOWN"
    headers = {} if await _drained(request) else {"Connection": "close"}
    if request.method == "HEAD":
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse(error_body(code, exc.detail), status_code=exc.status_code, headers=headers)


async def handle_exhausted(request: Request, exc: Exception) -> Response:
    """A full disk or no descriptor left: the OCI body names the cause; other OSErrors
    stay faults (500, logged with their trace by the server)."""
    assert isinstance(exc, OSError)
    found = EXHAUSTED.get(exc.errno or 0)
    if found is None:
        raise exc
    code, status = found
    cause = exc.strerror or errno.errorcode.get(exc.errno or 0, "")
    log.error("%s %s: %s", request.method, request.url.path, cause)
    headers = {"Connection": "close", "Retry-After": "10"}
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return JSONResponse(error_body(code, {"cause": cause}), status_code=status, headers=headers)


def _extra_headers(exc: Exception) -> dict[str, str]:
    if isinstance(exc, storage_errors.RangeInvalid):
        return {"Range": f"0-{max(exc.offset - 1, 0)}"}
    if isinstance(exc, RangeNotSatisfiable):
        return {"Content-Range": f"bytes */{exc.size}"}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": exc.challenge}
    if isinstance(exc, TooManyFailures):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, storage_errors.BlobSwept):
        return {"Retry-After": "1"}  # the sweep of one batch is over within a second or so
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": "1", "Connection": "close"}
    return {}


def exception_handlers() -> dict[Any, Any]:
    handlers: dict[Any, Any] = {kind: handle_error for kind, _, _ in ERRORS}
    handlers[HTTPException] = handle_http
    handlers[OSError] = handle_exhausted
    return handlers
