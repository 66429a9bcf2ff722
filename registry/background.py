"""What a serving process runs beside its requests, from startup to shutdown: webhook
deliveries, the storage usage gauges, the batched pull events, the removal of upload
data no session owns, the background scrub (when scrub_interval is set), retention and
garbage collection every gc_interval (one process of all at a time, by the gc lease), and
(with several processes) the saving of its request counts for the metrics collectors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from registry.config import Settings
from registry.full_disk import WriteGate
from registry.metrics import multiprocess
from registry.metrics.exposition import save_every
from registry.metrics.requests import TALLY
from registry.metrics.usage import refresh_every
from registry.notifications.service import Notifications
from registry.notifications.sinks import Sink
from registry.proxy.upstreams import collected_caches
from registry.pulls import PullRecorder
from storage import gc
from storage.errors import StorageError, Unavailable
from storage.leases import owner_name
from storage.retention import retain_then_collect
from storage.store import Storage
from storage.uploads import UploadSessions
from storage.verify import scrub_every

MB = 1_000_000
log = logging.getLogger("artifact-store.background")
# Upload data with no session row is removed once it has been so for this long: a
# monolithic push in flight in another process has that long to finish.
STRAY_GRACE = 3600.0

gc_log = logging.getLogger("artifact_store.gc")


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    storage: Storage,
    sinks: Sequence[Sink],
    pulls: PullRecorder | None,
    gate: WriteGate,
) -> AsyncIterator[None]:
    notifications = Notifications(sinks, storage.db) if sinks else None
    if notifications is not None:
        await notifications.start()
    jobs: list[Coroutine[Any, Any, None]] = [
        refresh_every(storage.db, settings.metrics_usage_interval),
        remove_strays_every(storage.uploads),
    ]
    if not await gate.check():  # a full disk: read-only until space is freed
        jobs.append(gate.watch())
    if settings.scrub_interval:
        rate = settings.scrub_rate * MB or None
        jobs.append(scrub_every(storage.blobs, settings.scrub_interval, rate))
    if settings.gc_interval > 0 and not settings.read_only:
        jobs.append(collect_every(settings, storage))
    directory = multiprocess.directory()
    if directory is not None:
        jobs.append(save_every(directory))
    if pulls is not None:
        pulls.db = storage.db
        jobs.append(pulls.flush_every())
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if pulls is not None:
            await pulls.flush()
        if notifications is not None:
            await notifications.stop()
        if directory is not None:
            TALLY.save(directory)


async def collect_every(settings: Settings, storage: Storage) -> None:
    """The [[retention]] rules, then garbage collection, every gc_interval; the gc lease is
    held for the whole interval, so one run per interval happens among all the processes
    that try."""
    owner = owner_name()
    policy = gc.Policy(
        grace=settings.gc_grace,
        upload_max_age=settings.upload_max_age,
        delete_untagged=settings.gc_delete_untagged,
        keep_orphan_referrers=settings.gc_keep_orphan_referrers,
        caches=collected_caches(settings),
    )
    while True:
        await asyncio.sleep(settings.gc_interval)
        try:
            done = await retain_then_collect(
                storage.manifests, storage.objects, policy, owner, hold=settings.gc_interval
            )
        except Unavailable as exc:
            gc_log.warning("gc stopped: %s; next run in %ss", exc.detail, settings.gc_interval)
            continue
        if done is not None:
            report = done.report
            counts = {
                "blobs": 0 if report is None else len(report.blobs),
                "manifests": 0 if report is None else len(report.manifests),
                "retention_tags": len(done.retention.tags),
                "retention_manifests": len(done.retention.manifests),
            }
            gc_log.info("gc: %s", done.document() | counts)


async def remove_strays_every(uploads: UploadSessions, seconds: float = STRAY_GRACE) -> None:
    """Data under uploads/ that no session row owns (a request killed mid-push) is
    removed once it has stayed so for `seconds`."""
    seen: set[str] = set()
    while True:
        try:
            seen = await uploads.remove_strays(seen)
        except (StorageError, OSError) as exc:
            log.warning("upload data with no session not checked: %s", exc)
        await asyncio.sleep(seconds)
