"""Pull events, when `pull_events` is on: manifest and blob GETs, recorded in batches.

A pull changes nothing, so it need not be recorded in a transaction of its own on
the request's path: the request middleware notes it (a list append) and a task
writes what was noted about once a second, in one transaction. Pulls noted in the
last second before a crash are lost; changes never are. At most MAX_PENDING pulls
wait at a time (memory stays bounded while the database is away); more are dropped
and counted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from starlette.routing import BaseRoute

from manifests.digest import is_digest_reference
from registry.http import scope_actor
from storage import events
from storage.database import Database
from storage.errors import Unavailable

if TYPE_CHECKING:
    from registry.observe import Exchange

log = logging.getLogger("artifact-store.events")
MAX_PENDING = 10_000
FLUSH_EVERY = 1.0
PULLED = {200, 307}  # a whole manifest or blob (a 206 is part of a download already counted)
ACTIONS = {"manifest": "manifest.pull", "blob": "blob.pull"}  # by route name (registry/app.py)
DROPPED = Counter(
    "artifact_store_pull_events_dropped", "Pull events not recorded: too many waiting to be written"
)


class PullRecorder:
    def __init__(self) -> None:
        self.pending: list[events.Pending] = []
        self.db: Database | None = None

    def note(self, exchange: Exchange, route: BaseRoute | None, params: dict[str, Any]) -> None:
        action = ACTIONS.get(getattr(route, "name", ""))
        if action is None or exchange.scope["method"] != "GET" or exchange.status not in PULLED:
            return
        if len(self.pending) >= MAX_PENDING:
            DROPPED.inc()
            return
        self.pending.append(_pull(exchange, action, params))

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch or self.db is None:
            return
        try:
            await events.record_batch(self.db, batch)
        except Unavailable:
            log.warning("%d pull events not recorded: the database is unavailable", len(batch))
            DROPPED.inc(len(batch))

    async def flush_every(self, seconds: float = FLUSH_EVERY) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.flush()


def _pull(exchange: Exchange, action: str, params: dict[str, Any]) -> events.Pending:
    digest = exchange.response_header(b"docker-content-digest")
    size = exchange.response_header(b"content-length")
    fields: dict[str, Any] = {"digest": digest, "size": int(size) if size else None}
    if action == "manifest.pull":
        reference = params.get("reference", "")
        fields["media_type"] = exchange.response_header(b"content-type")
        fields["tag"] = None if is_digest_reference(reference) else reference
    actor = scope_actor(exchange.scope)
    return events.Pending(actor, action, params.get("name"), fields, request=exchange.describe())
