"""Small request helpers shared by the resource modules."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.types import Scope

from manifests.digest import Digest
from registry.auth.access import SCOPE_KEY
from registry.auth.grants import EVERYTHING
from registry.errors import RangeNotSatisfiable, SizeInvalid, UploadRangeInvalid
from registry.names import check_name
from storage.store import Storage

# Far longer than any count a request needs; short enough that int() is cheap (and
# below the 4300 digits past which int() raises).
MAX_DIGITS = 64
# re.ASCII: \d is 0-9 only, never another script's digit that int() would then refuse.
_NUMBER = rf"(\d{{1,{MAX_DIGITS}}})"
_CONTENT_RANGE = re.compile(rf"^(?:bytes[ =])?{_NUMBER}-{_NUMBER}(?:/(?:\d+|\*))?$", re.ASCII)
_RANGE = re.compile(rf"^bytes={_NUMBER}?-{_NUMBER}?$", re.ASCII)


def storage(request: Request) -> Storage:
    store: Storage = request.app.state.storage
    return store


def repository(request: Request) -> str:
    return check_name(request.path_params["name"])


def path_digest(request: Request) -> Digest:
    return Digest.parse(request.path_params["digest"])


def actor(request: Request) -> str:
    return scope_actor(request.scope)


def scope_actor(scope: Scope) -> str:
    """Who made the change, for the event log: the signed-in user, else the address."""
    user = scope.get(SCOPE_KEY, EVERYTHING).subject
    client = scope.get("client")
    return f"{user or 'anonymous'}@{client[0]}" if client else user or "anonymous"


def client(request: Request) -> str | None:
    """Who is asking, for limits per client: the signed-in user, else the address."""
    user = request.scope.get(SCOPE_KEY, EVERYTHING).subject
    if user:
        return f"user:{user}"[:255]
    address = request.scope.get("client")
    return f"address:{address[0]}" if address else None


def content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    length = ascii_int(value)
    if length is None:
        raise SizeInvalid({"content-length": value})
    return length


def ascii_int(text: str) -> int | None:
    """The number `text` spells in at most MAX_DIGITS ASCII digits; None for anything else
    (str.isdigit accepts "²" and other scripts' digits, which int() refuses or reads)."""
    if not text or len(text) > MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def has_body(request: Request) -> bool:
    length = content_length(request)
    return bool(length) or "chunked" in request.headers.get("transfer-encoding", "")


def body(request: Request) -> AsyncIterator[bytes]:
    return request.stream()


def upload_range(request: Request) -> tuple[int, int] | None:
    """The (start, length) a chunk claims in Content-Range, when it claims one."""
    value = request.headers.get("content-range")
    if value is None:
        return None
    match = _CONTENT_RANGE.match(value.strip())
    if not match or int(match[2]) < int(match[1]):
        raise UploadRangeInvalid({"content-range": value})
    start, end = int(match[1]), int(match[2])
    length = content_length(request)
    if length is not None and length != end - start + 1:
        raise UploadRangeInvalid({"content-range": value, "content-length": length})
    return start, end - start + 1


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single-range Range header; None serves the whole blob."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None  # multiple or unknown ranges: ignore the header, as RFC 9110 allows
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:  # no byte to send: "bytes 0--1/0" is no range
            raise RangeNotSatisfiable(size)
        return max(size - suffix, 0), size
    start = int(match[1])
    end = min(int(match[2]) + 1, size) if match[2] else size
    if start >= size or (match[2] and int(match[2]) < start):
        raise RangeNotSatisfiable(size)
    return start, end
