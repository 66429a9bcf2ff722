"""The middleware around every request: its id, its access line, its metrics.

The request id is the client's X-Request-Id when it sends a usable one (printable
ASCII, at most 128 characters), else one made here; it goes back on the response,
onto every log record made while the request is handled and into the events the
request causes (both find it through storage.events.ORIGIN). When the request
ends, the request tally gets its method, route template (never the raw path),
status, duration and bytes; the access line (info level) names request id, method,
route, path, repository, digest, status, bytes, duration, actor and client; and a
pull is noted for the event log when pull events are on (registry/pulls.py).

The same middleware adds the API version header to every response and tracks the
request body for errors answered before it was read (errors.BODY_DONE). It sits on
the path of every manifest GET, so it does plain arithmetic and no allocation it can
avoid; the access line costs nothing below info level.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Sequence
from time import perf_counter
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.auth.access import SCOPE_KEY
from registry.errors import BODY_DONE, BodyTimeout, draining_send, may_have_body
from registry.metrics.requests import TALLY
from registry.pulls import PullRecorder
from storage.events import ORIGIN

log = logging.getLogger("artifact-store.access")
API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
DESCRIBED = 256  # bytes of a Host or User-Agent header kept in an event
_USABLE_ID = re.compile(rb"[\x21-\x7e]{1,128}")


class _RequestIds:
    """Ids made here: a prefix of this process, then a counter. Renewed in each forked
    worker, so no two workers make the same ids."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.prefix = secrets.token_hex(6) + "-"
        self.numbers = itertools.count(1)

    def make(self) -> str:
        return self.prefix + str(next(self.numbers))


_IDS = _RequestIds()
os.register_at_fork(after_in_child=_IDS.renew)


class Exchange:
    """One request as it goes: what the response said and how many bytes went by."""

    __slots__ = ("headers", "received", "request_id", "scope", "sent", "status")

    def __init__(self, scope: Scope, request_id: str) -> None:
        self.scope = scope
        self.request_id = request_id
        self.status = 500  # unless a response starts
        self.received = 0
        self.sent = 0
        self.headers: Sequence[tuple[bytes, bytes]] = ()

    def tracking(self, receive: Receive, body_timeout: float | None = None) -> Receive:
        """A receive that counts the body's bytes and marks the scope once the body has
        been read to its end (errors.BODY_DONE: an early error answer drains the rest).

        It is safe to cancel: a wait cancelled (a cancelled upload's body, storage/intake.py)
        leaves the server's receive running, and the next call takes its message. granian's
        receive drops the message it was fetching when cancelled, and the body is then cut
        short or never ends. A body that sends nothing for `body_timeout` seconds raises
        BodyTimeout (a client trickling bytes must not hold its connection for ever)."""
        scope = self.scope
        scope[BODY_DONE] = not may_have_body(scope)
        pending: asyncio.Future[Message] | None = None

        async def tracked() -> Message:
            nonlocal pending
            if pending is None:
                pending = asyncio.ensure_future(receive())
            try:
                message = await self._within(asyncio.shield(pending), body_timeout)
            except BodyTimeout:
                pending.cancel()  # the body is given up: the server may drop it and close
                raise
            pending = None
            self.received += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                scope[BODY_DONE] = True
            return message

        return tracked

    async def _within(self, waiting: Awaitable[Message], seconds: float | None) -> Message:
        if seconds is None or self.scope[BODY_DONE]:
            return await waiting
        try:
            return await asyncio.wait_for(waiting, seconds)
        except TimeoutError:
            raise BodyTimeout({"idle_seconds": seconds}) from None

    def observing(self, send: Send) -> Send:
        """A send that notes status, headers and bytes, and adds the API version and
        request id headers to the response."""
        id_header = (b"x-request-id", self.request_id.encode())

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = message["headers"] = [
                    *message.get("headers", ()),
                    API_VERSION,
                    id_header,
                ]
            elif message["type"] == "http.response.body":
                self.sent += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":  # the server sends the file
                self.sent += int(self.response_header(b"content-length") or 0)
            await send(message)

        return observed

    def describe(self) -> dict[str, str]:
        """The request as distribution's notifications describe it (storage.events.Origin)."""
        headers = dict(self.scope["headers"])
        return {
            "id": self.request_id,
            "addr": client_address(self.scope) or "",
            "host": headers.get(b"host", b"")[:DESCRIBED].decode("latin-1"),
            "method": self.scope["method"],
            "useragent": headers.get(b"user-agent", b"")[:DESCRIBED].decode("latin-1"),
        }

    def response_header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None


class RequestObserver:
    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[BaseRoute],
        pulls: PullRecorder | None = None,
        body_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.pulls = pulls
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = perf_counter()
        exchange = Exchange(scope, request_id(scope))
        origin = ORIGIN.set(exchange)  # also how log records find the request id (logs.py)
        try:
            tracked = exchange.tracking(receive, self.body_timeout)
            # the end of an answer given before the body was read cannot stall behind it
            await self.app(scope, tracked, draining_send(scope, tracked, exchange.observing(send)))
        finally:
            self._finished(exchange, perf_counter() - started)
            ORIGIN.reset(origin)

    def _finished(self, exchange: Exchange, seconds: float) -> None:
        scope = exchange.scope
        route = scope.get("route")
        params = scope.get("path_params", {})
        if route is None:
            route, params = routed(scope, self.routes)
        template = getattr(route, "path", UNMATCHED)
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        status = exchange.status
        TALLY.observe(method, template, status, seconds, exchange.received, exchange.sent)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"fields": access_fields(exchange, template, params, seconds)},
            )  # fmt: skip
        if self.pulls is not None:
            self.pulls.note(exchange, route, params)


def request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _USABLE_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return _IDS.make()


def routed(scope: Scope, routes: Sequence[BaseRoute]) -> tuple[BaseRoute | None, dict[str, Any]]:
    """The route of a request turned away before routing (a 401 from the auth
    middleware), and its path parameters; the router notes them for the others."""
    for candidate in routes:
        match, child = candidate.matches(scope)
        if match != Match.NONE:
            return candidate, child.get("path_params", {})
    return None, {}


def access_fields(
    exchange: Exchange, route: str, params: dict[str, Any], seconds: float
) -> dict[str, Any]:
    scope = exchange.scope
    grant = scope.get(SCOPE_KEY)
    return {
        "request_id": exchange.request_id,
        "method": scope["method"],
        "route": route,
        "path": scope["path"],
        "repository": params.get("name"),
        "digest": exchange.response_header(b"docker-content-digest") or params.get("digest"),
        "status": exchange.status,
        "bytes": exchange.sent,
        "bytes_in": exchange.received,
        "duration": round(seconds, 6),
        "actor": grant.subject if grant is not None else None,
        "client": client_address(scope),
    }


def client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
