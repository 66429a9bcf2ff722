"""The deliveries a serving process runs, one task per sink, for as long as it serves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import httpx

from registry.notifications.delivery import SinkDelivery, process_name
from registry.notifications.sinks import Sink
from storage.database import Database
from storage.errors import Unavailable
from storage.notification_cursors import NotificationCursors


class Notifications:
    def __init__(self, sinks: Sequence[Sink], db: Database) -> None:
        self.sinks = sinks
        self.db = db
        self.client = httpx.AsyncClient(follow_redirects=False)
        owner = process_name()
        self.deliveries = [SinkDelivery(sink, db, self.client, owner) for sink in sinks]
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Cursor rows first, before any request is served: a new sink gets every event
        from this start on."""
        await NotificationCursors(self.db).start(sink.name for sink in self.sinks)
        self.tasks = [asyncio.create_task(d.run(), name=d.sink.name) for d in self.deliveries]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for delivery in self.deliveries:
            with contextlib.suppress(Unavailable):  # the next holder waits out the lease
                await delivery.release()
        await self.client.aclose()
