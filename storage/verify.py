"""Scrubbing: prove the stored blobs intact, find what is not, take it out of service.

A scan re-hashes every blob (or the blobs of one repository) with BLAKE3 and
checks the result against its key and size, oldest-verified first, and records
when each blob was last found whole. Files on this machine are hashed in
worker threads, several at once, large ones with BLAKE3's own threads too; other
stores (S3) are streamed a chunk at a time, so memory stays bounded by the
number of workers. A blob found corrupt or missing is quarantined
(BlobStore.quarantine): its bytes set aside, its row marked, an event recorded.

A whole-store scan also lists the blob tree and reports objects no row knows
(orphans: left for gc). Temporary files beside a key (publishes under way) are
not orphans, nor anything outside `blobs/` (uploads, probes, quarantine). An
object listed before its row was committed is looked up again at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import blake3
from prometheus_client import Counter
from sqlalchemy import Select, and_, or_, select, update

from storage import layout
from storage.blobs import Blob, BlobStore
from storage.leases import Leases, owner_name
from storage.progress import SILENT, Progress
from storage.repositories import now
from storage.schema import blobs, digest_aliases, repositories, repository_blobs

FILE_BUFFER = 8 * 1024 * 1024  # bytes read from a file at a time
THREADED_FROM = 16 * 1024 * 1024  # files at least this large are hashed with BLAKE3's threads
MARK_BATCH = 256  # verified blobs recorded per write transaction
LEASE = "scrub"  # the row of the leases table a background scrub holds
LEASE_SECONDS = 60.0
LOG = logging.getLogger(__name__)

CHECKED = Counter("artifact_store_scrub_blobs", "Blobs re-hashed by verify or the scrubber")
CHECKED_BYTES = Counter("artifact_store_scrub_bytes", "Bytes re-hashed by verify or the scrubber")
FOUND = Counter(
    "artifact_store_scrub_problems", "Blobs a scan found corrupt or missing", ["problem"]
)


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str  # blake3 hex
    size: int
    digest: str | None  # sha256, as clients name it


@dataclass
class ScrubReport:
    checked: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)  # sha256 digests
    missing: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # object keys
    quarantined: list[str] = field(default_factory=list)  # found so by earlier scans
    seconds: float = 0.0

    @property
    def intact(self) -> bool:
        return not (self.corrupt or self.missing or self.orphans or self.quarantined)

    def as_json(self) -> dict[str, Any]:
        rate = self.bytes / self.seconds if self.seconds else 0.0
        return {
            "intact": self.intact,
            "checked": self.checked,
            "bytes": self.bytes,
            "corrupt": len(self.corrupt),
            "missing": len(self.missing),
            "orphans": len(self.orphans),
            "quarantined": len(self.quarantined),
            "corrupt_digests": sorted(self.corrupt),
            "missing_digests": sorted(self.missing),
            "orphan_keys": sorted(self.orphans),
            "quarantined_digests": sorted(self.quarantined),
            "seconds": round(self.seconds, 3),
            "bytes_per_second": round(rate),
        }


class Throttle:
    """At most `rate` bytes per second on average, across every worker; None: no cap."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._next = time.monotonic()

    async def spend(self, size: int) -> None:
        if not self.rate:
            return
        start = max(self._next, time.monotonic())
        self._next = start + size / self.rate
        await asyncio.sleep(max(0.0, self._next - time.monotonic()))


class Scrubber:
    def __init__(
        self,
        blobs: BlobStore,
        *,
        workers: int | None = None,
        rate: float | None = None,
        actor: str = "verify",
    ) -> None:
        self.blobs = blobs
        self.workers = workers or os.cpu_count() or 1
        self.throttle = Throttle(rate)
        self.actor = actor

    async def run(
        self,
        repository: str | None = None,
        *,
        verified_before: datetime | None = None,
        progress: Progress = SILENT,
    ) -> ScrubReport:
        """Check the store (or one repository's blobs; or only those not verified since
        `verified_before`). Orphans are looked for only in a scan of the whole store."""
        whole_store = repository is None and verified_before is None
        listed = await self._stored_keys() if whole_store else set()
        rows, quarantined = await self._rows(repository, verified_before)
        report = ScrubReport(quarantined=[b.digest or b.key for b in quarantined])
        started = time.monotonic()
        progress.begin("verify", len(rows), sum(b.size for b in rows))
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="scrub")
        try:
            await self._scan(rows, report, pool, progress)
        finally:  # a cancelled scan (shutdown, a lost lease) does not wait for its threads
            pool.shutdown(wait=False, cancel_futures=True)
        report.seconds = time.monotonic() - started
        progress.end()
        if whole_store:
            known = {b.key for b in rows} | {b.key for b in quarantined}
            report.orphans = await self._orphans(listed, known)
        return report

    async def _scan(
        self,
        rows: Sequence[StoredBlob],
        report: ScrubReport,
        pool: ThreadPoolExecutor,
        progress: Progress,
    ) -> None:
        pending = iter(rows)
        whole: list[str] = []

        async def work() -> None:
            for blob in pending:
                problem = await self._check(blob, pool)
                report.checked += 1
                report.bytes += 0 if problem == "missing" else blob.size
                progress.advance(1, blob.size)
                if problem is None:
                    whole.append(blob.key)
                    if len(whole) >= MARK_BATCH:
                        await self._mark_verified(_drain(whole))
                else:
                    await self._found(blob, problem, report)
                await self.throttle.spend(blob.size)

        await asyncio.gather(*(work() for _ in range(self.workers)))
        await self._mark_verified(whole)

    async def _check(self, blob: StoredBlob, pool: ThreadPoolExecutor) -> str | None:
        """None when the blob hashes to its key and size; else "corrupt" or "missing"."""
        try:
            found, size = await self._hash(blob, pool)
        except FileNotFoundError:
            return "missing"
        CHECKED.inc()
        CHECKED_BYTES.inc(size)
        return None if (found, size) == (blob.key, blob.size) else "corrupt"

    async def _hash(self, blob: StoredBlob, pool: ThreadPoolExecutor) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        path = self.blobs.local_file(Blob(blob.key, blob.size))
        if path is not None:
            return await loop.run_in_executor(pool, hash_file, path)
        hasher = blake3.blake3(max_threads=1)
        size = 0
        async for chunk in self.blobs.read(Blob(blob.key, blob.size)):
            await loop.run_in_executor(pool, hasher.update, chunk)
            size += len(chunk)
        return hasher.hexdigest(), size

    async def _found(self, blob: StoredBlob, problem: str, report: ScrubReport) -> None:
        """Quarantine the blob and report it, unless its row went while the scan ran (a blob
        deleted meanwhile is no problem of the store)."""
        quarantined = await self.blobs.quarantine(blob.key, problem, self.actor)
        if not quarantined and not await self._recorded(blob.key):
            return
        FOUND.labels(problem).inc()
        (report.corrupt if problem == "corrupt" else report.missing).append(blob.digest or blob.key)

    async def _recorded(self, key: str) -> bool:
        async with self.blobs.db.read() as conn:
            found = await conn.execute(select(blobs.c.key).where(blobs.c.key == key))
            return found.first() is not None

    async def _rows(
        self, repository: str | None, verified_before: datetime | None
    ) -> tuple[list[StoredBlob], list[StoredBlob]]:
        """The blobs to check, oldest-verified first, and those quarantined already."""
        query = _blob_rows(repository)
        if verified_before is not None:
            query = query.where(or_(blobs.c.verified.is_(None), blobs.c.verified < verified_before))
        async with self.blobs.db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = [(StoredBlob(r.key, r.size, _sha256(r.hex)), r.quarantined) for r in rows]
        return [b for b, q in found if q is None], [b for b, q in found if q is not None]

    async def _mark_verified(self, keys: list[str]) -> None:
        if not keys:
            return
        async with self.blobs.db.write() as conn:
            await conn.execute(
                update(blobs)
                .where(blobs.c.key.in_(keys), blobs.c.quarantined.is_(None))
                .values(verified=now())
            )

    async def _stored_keys(self) -> set[str]:
        return {key async for key in self.blobs.stored_objects()}

    async def _orphans(self, listed: set[str], known: set[str]) -> list[str]:
        """Listed objects whose name is no blob's key; those whose row came after the
        listing (a publish under way) are looked up again."""
        by_key = {key: _blob_name(key) for key in listed}
        unknown = [key for key, name in by_key.items() if name not in known]
        names = [n for k in unknown if (n := by_key[k]) is not None]
        recorded: set[str] = set()
        async with self.blobs.db.read() as conn:
            for start in range(0, len(names), 500):
                query = select(blobs.c.key).where(blobs.c.key.in_(names[start : start + 500]))
                recorded.update((await conn.execute(query)).scalars())
        return sorted(k for k in unknown if by_key[k] not in recorded)


def hash_file(path: str) -> tuple[str, int]:
    """BLAKE3 of a whole file and its size, in large reads; large files with several
    threads. A file that is gone raises FileNotFoundError."""
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        threads = blake3.blake3.AUTO if size >= THREADED_FROM else 1
        hasher = blake3.blake3(max_threads=threads)
        buffer = bytearray(min(FILE_BUFFER, max(size, 1)))
        view = memoryview(buffer)
        read = 0
        while count := handle.readinto(buffer):
            hasher.update(view[:count])
            read += count
    return hasher.hexdigest(), read


def _blob_rows(repository: str | None) -> Select[Any]:
    sha256 = and_(digest_aliases.c.blob_key == blobs.c.key, digest_aliases.c.algorithm == "sha256")
    query = (
        select(
            blobs.c.key,
            blobs.c.size,
            blobs.c.quarantined,
            (digest_aliases.c.hex).label("hex"),
        )
        .outerjoin(digest_aliases, sha256)
        .where(blobs.c.sweeping.is_(None))  # gc is deleting it: nothing to check or heal
        .order_by(blobs.c.verified.asc().nulls_first(), blobs.c.key)
    )
    if repository is not None:
        query = (
            query.join(repository_blobs, repository_blobs.c.blob_key == blobs.c.key)
            .join(repositories, repositories.c.id == repository_blobs.c.repository_id)
            .where(repositories.c.name == repository)
        )
    return query


def _blob_name(key: str) -> str | None:
    """The blake3 hex an object key of the blob tree stands for, or None for a key no blob
    would have."""
    name = key.rsplit("/", 1)[-1]
    return name if layout.blob_key(name) == key else None


def _sha256(hex_digest: str | None) -> str | None:
    return None if hex_digest is None else f"sha256:{hex_digest}"


def _drain(items: list[str]) -> list[str]:
    taken = items[:]
    items.clear()
    return taken


async def scrub_every(
    blobs: BlobStore, interval: float, rate: float | None, workers: int = 1
) -> None:
    """The background scrub: about every `interval`, the blobs not verified for that long,
    by one process of all at a time (the "scrub" lease)."""
    leases = Leases(blobs.db)
    owner = owner_name()
    scrubber = Scrubber(blobs, workers=workers, rate=rate, actor="scrub")
    while True:
        await asyncio.sleep(min(interval, 60.0))
        try:
            if await leases.claim(LEASE, owner, LEASE_SECONDS):
                await _scrub_holding(scrubber, leases, owner, interval)
        except Exception as exc:  # the database or the store away: try again next time
            LOG.warning("background scrub failed: %s", exc)


async def _scrub_holding(scrubber: Scrubber, leases: Leases, owner: str, interval: float) -> None:
    scan = asyncio.create_task(scrubber.run(verified_before=now() - timedelta(seconds=interval)))
    try:
        while not scan.done():
            await asyncio.wait([scan], timeout=LEASE_SECONDS / 3)
            if not scan.done() and not await leases.claim(LEASE, owner, LEASE_SECONDS):
                scan.cancel()  # another process took the lease over: it scans now
        for failure in await asyncio.gather(scan, return_exceptions=True):
            if isinstance(failure, Exception):
                LOG.warning("background scrub failed: %s", failure)
            elif isinstance(failure, ScrubReport) and not failure.intact:
                LOG.warning("background scrub: %s", failure.as_json())
    finally:
        scan.cancel()
        await leases.release(LEASE, owner)
