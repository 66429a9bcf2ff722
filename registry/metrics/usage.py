"""Blobs and bytes stored and upload sessions open, as gauges.

Every serving process refreshes them every `metrics_usage_interval` from the
storage_usage row, which one process at a time recounts when it is due
(storage/usage.py): one count per interval for the whole registry, whatever the
number of workers and replicas.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge

from storage import usage
from storage.database import Database
from storage.errors import Unavailable

log = logging.getLogger("artifact-store.metrics")
# The same value in every process, written in turn: the newest one is as good as any.
BLOBS = Gauge(
    "artifact_store_stored_blobs", "Blobs stored (as last counted)", multiprocess_mode="mostrecent"
)
BYTES = Gauge(
    "artifact_store_stored_bytes",
    "Bytes of the blobs stored (as last counted)",
    multiprocess_mode="mostrecent",
)
UPLOADS = Gauge(
    "artifact_store_upload_sessions",
    "Upload sessions started and not yet finished or cancelled (as last counted)",
    multiprocess_mode="mostrecent",
)


async def refresh_every(db: Database, interval: float) -> None:
    while True:
        try:
            await refresh(db, interval)
        except Unavailable:
            log.warning("storage usage not counted: the database is unavailable")
        await asyncio.sleep(interval)


async def refresh(db: Database, interval: float) -> None:
    found = await usage.refresh(db, interval)
    if found.counted is None:
        return
    BLOBS.set(found.blobs)
    BYTES.set(found.bytes)
    UPLOADS.set(found.uploads)
