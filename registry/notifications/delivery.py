"""Webhook delivery from the event log: each sink in order, at least once, by one
process at a time.

Every serving process runs a SinkDelivery for each sink; the lease in the sink's
cursor row (storage/notification_cursors.py) lets one of them deliver while the
others wait to take over. The holder reads up to BATCH events after the sink's
cursor, sends those the sink wants (one envelope, or one CloudEvent each), retrying
with the sink's backoff until the receiver takes them (any 2xx), and then moves the
cursor past them. The holder renews its lease whenever a third of it has passed, and
a lease lasts more than twice the sink's timeout, which bounds a POST: no other
process takes over while a POST is in flight. A process that dies between a POST and
moving the cursor leaves those events to be sent again by the next holder, under the
same event ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from prometheus_client import Counter, Gauge

from registry.notifications.envelope import (
    CLOUDEVENTS,
    DISTRIBUTION,
    cloudevent_body,
    distribution_body,
)
from registry.notifications.sinks import Sink
from storage import events
from storage.database import Database
from storage.errors import Unavailable
from storage.events import Event
from storage.notification_cursors import NotificationCursors

log = logging.getLogger("artifact-store.notifications")
BATCH = 100  # events read at a time; a distribution envelope carries those the sink wants
POLL = 1.0  # seconds between looks at the log while the sink is idle
CLAIM_EVERY = 5.0  # seconds between attempts of a waiting process to take the lease over
MIN_LEASE = 15.0  # seconds; a dead holder's sink waits at most this long for another

DELIVERIES = Counter(
    "artifact_store_webhook_deliveries", "POSTs a sink's receiver accepted", ["sink"]
)
DELIVERED_EVENTS = Counter(
    "artifact_store_webhook_events", "Events a sink's receiver accepted", ["sink"]
)
FAILURES = Counter(
    "artifact_store_webhook_failures",
    "POSTs that failed (error status, timeout, refused)",
    ["sink"],
)
# Every process reports what it last saw of a sink; the newest report is the one to show.
LAG_EVENTS = Gauge(
    "artifact_store_webhook_lag_events",
    "Events in the log not yet delivered to (or passed over by) a sink",
    ["sink"],
    multiprocess_mode="mostrecent",
)
LAG_SECONDS = Gauge(
    "artifact_store_webhook_lag_seconds",
    "Age of the oldest event a sink has not been given yet; 0 when it has them all",
    ["sink"],
    multiprocess_mode="mostrecent",
)


def process_name() -> str:
    """This process, as lease owner: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class SinkDelivery:
    def __init__(self, sink: Sink, db: Database, client: httpx.AsyncClient, owner: str) -> None:
        self.sink = sink
        self.db = db
        self.cursors = NotificationCursors(db)
        self.client = client
        self.owner = owner
        self.lease = max(MIN_LEASE, 2 * sink.timeout + 5)
        self.renewed = 0.0  # time.monotonic() of the last renewal; 0: not held
        self.position = 0  # while held: the last event given to (or passed over by) the sink

    async def run(self) -> None:
        while True:
            try:
                busy = await self.step()
            except Unavailable:
                log.warning("notifications to %s wait: the database is unavailable", self.sink.name)
                busy = False
            except Exception:  # a delivery loop must outlive any one failure
                log.exception("notifications to %s: unexpected failure", self.sink.name)
                busy = False
            if not busy:
                await asyncio.sleep(POLL if self.renewed else CLAIM_EVERY)

    async def step(self) -> bool:
        """Deliver the next batch if this process holds the sink; True when it did work."""
        if not await self.hold():
            await self.report_lag(await self.cursors.position(self.sink.name), [])
            return False
        batch = await events.after(self.db, self.position, BATCH)
        await self.report_lag(self.position, batch)
        return bool(batch) and await self.deliver(batch)

    async def hold(self) -> bool:
        """Whether this process holds the sink: the lease taken, or renewed once a third
        of it has passed."""
        if self.renewed and time.monotonic() - self.renewed < self.lease / 3:
            return True
        position = await self.cursors.claim(self.sink.name, self.owner, self.lease)
        self.renewed = time.monotonic() if position is not None else 0.0
        self.position = position if position is not None else self.position
        return position is not None

    async def deliver(self, batch: Sequence[Event]) -> bool:
        for seq, body in self.units(batch):
            if body is not None and not await self.send(body):
                return False
            if not await self.cursors.advance(self.sink.name, self.owner, seq):
                self.renewed = 0.0  # another process took over: it goes on from the cursor
                return False
            self.position = seq
        return True

    def units(self, batch: Sequence[Event]) -> list[tuple[int, bytes | None]]:
        """(cursor after, body) in order; the last moves the cursor past the whole batch."""
        wanted = [event for event in batch if self.sink.wants(event.fields())]
        end = batch[-1].seq
        if self.sink.format == "cloudevents":
            units: list[tuple[int, bytes | None]] = [(e.seq, cloudevent_body(e)) for e in wanted]
        else:
            units = [(end, distribution_body(wanted))] if wanted else []
        if not units or units[-1][0] != end:
            units.append((end, None))
        return units

    async def send(self, body: bytes) -> bool:
        """POST until the receiver takes it; False when the lease went to another process."""
        failures = 0
        while True:
            if not await self.hold():
                return False
            if await self.post(body):
                DELIVERIES.labels(self.sink.name).inc()
                return True
            failures += 1
            FAILURES.labels(self.sink.name).inc()
            await asyncio.sleep(self.sink.wait_after(failures))

    async def post(self, body: bytes) -> bool:
        content_type = CLOUDEVENTS if self.sink.format == "cloudevents" else DISTRIBUTION
        headers = {**self.sink.headers, "Content-Type": content_type}
        try:
            async with asyncio.timeout(self.sink.timeout):
                response = await self.client.post(self.sink.url, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.warning("notification to %s failed: %r", self.sink.name, exc)
            return False
        if not response.is_success:
            log.warning("notification to %s answered %d", self.sink.name, response.status_code)
        return response.is_success

    async def report_lag(self, position: int | None, batch: Sequence[Event]) -> None:
        if position is None:
            return
        last = await events.last_seq(self.db)
        LAG_EVENTS.labels(self.sink.name).set(max(last - position, 0))
        oldest = batch[:1] or (await events.after(self.db, position, 1) if last > position else [])
        age = (datetime.now(UTC) - oldest[0].fields()["time"]).total_seconds() if oldest else 0
        LAG_SECONDS.labels(self.sink.name).set(max(age, 0.0))

    async def release(self) -> None:
        if self.renewed:
            await self.cursors.release(self.sink.name, self.owner)
            self.renewed = 0.0
