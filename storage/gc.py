"""The garbage collector: online, mark then sweep after a grace period.

Stages run in the order of STAGES, each in short transactions of BATCH rows:

  untagged     manifests no tag names, no tagged index holds and that refer to no
               live subject (only with `delete_untagged`)
  caches       every manifest, tagged or not, of a cached repository (pull-through cache)
               that no client pulled within `caches.keep`: the next pull fetches it again
  referrers    manifests whose subject is gone from their repository (unless
               `keep_orphan_referrers`); tagged ones stay
  resume       blobs a run that died was sweeping: their bytes, then their rows
  links        repository links no manifest of the repository needs, older than the grace
               (in a cached repository: only once it holds no manifest and was not pulled
               within `caches.keep`, as its manifest_refs rows are incomplete and its blobs
               are linked as they are pulled)
  mark         blobs nothing links get `eligible_since`, once
  sweep        blobs eligible for longer than the grace and still unlinked: `sweeping` is
               set (committed), the bytes deleted, then the rows
  uploads      upload sessions idle longer than `upload_max_age`, with their chunks and
               any unfinished S3 multipart upload
  orphans      objects under blobs/ and uploads/ that no row knows, older than the grace
               (stores that can date objects; never quarantine/ or anything else)

Against concurrent writers: every link (push, mount, manifest PUT) clears
`eligible_since` and fails with BlobSwept while `sweeping` is set, and a push that
creates a blob row checks that its bytes exist; a sweep sets `sweeping` only on
rows that are still unlinked in the same statement, on rows it has locked
(PostgreSQL: FOR UPDATE SKIP LOCKED, so rows a push is writing are left to the
next run; SQLite: one writer at a time). A manifest PUT locks the links it needs
(FOR SHARE) until it commits. An object no row knows is claimed with a row of gc's
own (marked sweeping) before its bytes are deleted, as a push claims a row. So a
sweep and a push of the same content end with the blob whole and linked, or the push
failing with a retryable error.

A dry run does every stage in one transaction that it rolls back, touching no
object: what it reports is exactly what a run would have done at that moment.
It holds the write lock (SQLite) or the rows' locks (PostgreSQL) while it runs.

Cached repositories (names under a prefix of `caches.prefixes`, or with rows in
cached_manifests) that a client pulled within `caches.keep` are kept whole: no stage
removes their manifests, tags or links.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    or_,
    select,
    tuple_,
    update,
)

from storage import events, layout
from storage.database import Conn, Database
from storage.leases import Leases
from storage.manifest_store import remove_manifest
from storage.objects import Dated, ObjectStore, dated, multipart
from storage.schema import (
    blobs,
    cached_manifests,
    digest_aliases,
    manifest_refs,
    manifests,
    repositories,
    repository_blobs,
    tags,
    uploads,
)

BATCH = 500
ACTOR = "gc"
LEASE = "gc"  # the leases row: one collector at a time among all processes and replicas
LEASE_SECONDS = 300.0  # renewed far more often while a run goes on
RENEW_EVERY = 30.0
DELETES_IN_FLIGHT = 16
COLLECTED = Counter(
    "artifact_store_gc_collected", "What garbage collection removed, by kind", ["kind"]
)
COLLECTED_BYTES = Counter(
    "artifact_store_gc_collected_bytes", "Bytes garbage collection freed, blobs and uploads"
)


@dataclass(frozen=True)
class Caches:
    """The repositories of the pull-through cache: names under these prefixes; gc keeps one
    whole while a client pulled any of its manifests within `keep` seconds."""

    prefixes: tuple[str, ...] = ()
    keep: float = 7 * 86400.0


@dataclass(frozen=True)
class Policy:
    grace: float = 3600.0  # seconds
    upload_max_age: float = 86400.0
    delete_untagged: bool = False
    keep_orphan_referrers: bool = False
    dry_run: bool = False
    caches: Caches = Caches()


@dataclass
class Report:
    """What a run removed (or, dry, would have): JSON-ready."""

    dry_run: bool = False
    blobs: list[str] = field(default_factory=list)  # sha256 digests
    bytes: int = 0
    manifests: list[str] = field(default_factory=list)  # repository@digest
    uploads: int = 0
    upload_bytes: int = 0
    links: int = 0
    marked: int = 0
    orphans: int = 0  # objects no row knew
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Run:
    """One collection: its policy, clock, report, and where transactions come from."""

    def __init__(self, db: Database, objects: ObjectStore, policy: Policy) -> None:
        self.db = db
        self.objects = objects
        self.policy = policy
        self.started = datetime.now(UTC)
        self.cutoff = self.started - timedelta(seconds=policy.grace)
        self.upload_cutoff = self.started - timedelta(seconds=policy.upload_max_age)
        self.pulled_since = self.started - timedelta(seconds=policy.caches.keep)
        self.report = Report(dry_run=policy.dry_run)
        self._shared: Conn | None = None  # the one transaction of a dry run
        self.heartbeat: Callable[[], Awaitable[None]] | None = None
        self.swept: set[str] = set()  # dry run: keys whose bytes a real run would delete

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        if self._shared is not None:
            yield self._shared
            return
        async with self.db.write() as conn:
            yield conn
        if self.heartbeat is not None:
            await self.heartbeat()

    async def delete_object(self, key: str) -> None:
        if not self.policy.dry_run:
            await self.objects.delete(key)

    async def delete_objects(self, keys: list[str]) -> None:
        """DELETES_IN_FLIGHT at a time: each is a thread hop or an S3 round trip."""
        for start in range(0, len(keys), DELETES_IN_FLIGHT):
            await asyncio.gather(
                *(self.delete_object(key) for key in keys[start : start + DELETES_IN_FLIGHT])
            )

    @property
    def lock(self) -> dict[str, Any]:
        """Row locks of a candidate query: other writers' rows are left for the next run."""
        return {"skip_locked": True}


class _RollBack(Exception):
    pass


async def collect(
    db: Database,
    objects: ObjectStore,
    policy: Policy,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> Report:
    run = Run(db, objects, policy)
    run.heartbeat = heartbeat
    clock = time.monotonic()
    if policy.dry_run:
        with contextlib.suppress(_RollBack):
            async with db.write() as conn:
                run._shared = conn
                await _stages(run)
                raise _RollBack
    else:
        await _stages(run)
        await _summary(run)
    run.report.seconds = round(time.monotonic() - clock, 3)
    return run.report


async def collect_exclusively(
    db: Database, objects: ObjectStore, policy: Policy, owner: str, hold: float = 0.0
) -> Report | None:
    """`collect` under the gc lease; None when another process holds it. With `hold`, the
    lease is kept that many seconds after the run (a server's interval), else released."""
    leases = Leases(db)
    seconds = max(LEASE_SECONDS, hold)
    if not await leases.claim_from_dead(LEASE, owner, seconds):
        return None
    renewed = time.monotonic()

    async def renew() -> None:
        nonlocal renewed
        if time.monotonic() - renewed > RENEW_EVERY:
            renewed = time.monotonic()
            await leases.claim(LEASE, owner, seconds)

    try:
        return await collect(db, objects, policy, renew)
    finally:
        if not hold:
            await leases.release(LEASE, owner)


async def _stages(run: Run) -> None:
    for stage in STAGES:
        started = time.monotonic()
        await stage(run)
        run.report.stage_seconds[stage.__name__] = round(time.monotonic() - started, 3)


async def _summary(run: Run) -> None:
    report = run.report
    async with run.transaction() as conn:
        await events.record(
            conn,
            ACTOR,
            "gc.run",
            None,
            blobs=len(report.blobs),
            bytes=report.bytes,
            manifests=len(report.manifests),
            uploads=report.uploads,
            upload_bytes=report.upload_bytes,
            links=report.links,
            orphans=report.orphans,
        )
    for kind, count in (
        ("blob", len(report.blobs)),
        ("manifest", len(report.manifests)),
        ("link", report.links),
        ("upload", report.uploads),
        ("orphan", report.orphans),
    ):
        COLLECTED.labels(kind).inc(count)
    COLLECTED_BYTES.inc(report.bytes + report.upload_bytes)


# Manifests ---------------------------------------------------------------------------


def _prefixed(prefixes: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [repositories.c.name.startswith(p + "/", autoescape=True) for p in prefixes]


def _cached(repo_id: Any, prefixes: tuple[str, ...]) -> ColumnElement[bool]:
    """The repository is a cache of an upstream, for what gc keeps: under a prefix, or known
    to the cache (a run given no prefixes, as `gc` without the configuration file, sees it)."""
    known = exists().where(cached_manifests.c.repository == repositories.c.name)
    return exists().where(repositories.c.id == repo_id, or_(known, *_prefixed(prefixes)))


def _pulled_within(repo_id: Any, since: datetime) -> ColumnElement[bool]:
    """A client pulled a manifest of the repository (by tag or digest) at `since` or later."""
    return exists().where(
        repositories.c.id == repo_id,
        cached_manifests.c.repository == repositories.c.name,
        cached_manifests.c.last_pulled >= since,
    )


def _kept_cache(run: Run, repo_id: Any) -> ColumnElement[bool]:
    """A cached repository pulled within the window: nothing of it is collected."""
    return and_(
        _cached(repo_id, run.policy.caches.prefixes), _pulled_within(repo_id, run.pulled_since)
    )


def _idle_cache(run: Run, repo_id: Any) -> ColumnElement[bool]:
    """A repository under a cache prefix no client pulled within the window: its content
    may go (only under a prefix configured now: without its upstream it could not be
    fetched again)."""
    under = exists().where(
        repositories.c.id == repo_id, or_(*_prefixed(run.policy.caches.prefixes))
    )
    return and_(under, ~_pulled_within(repo_id, run.pulled_since))


def _tagged(manifest_key: Any, repo_id: Any) -> ColumnElement[bool]:
    return exists().where(tags.c.repository_id == repo_id, tags.c.manifest_key == manifest_key)


def _child_of_tagged() -> ColumnElement[bool]:
    parent = manifest_refs.alias("parent")
    return exists().where(
        parent.c.repository_id == manifests.c.repository_id,
        parent.c.child_key == manifests.c.blob_key,
        _tagged(parent.c.manifest_key, parent.c.repository_id),
    )


def _subject_present() -> ColumnElement[bool]:
    subject = manifests.alias("subject")
    return exists().where(
        subject.c.repository_id == manifests.c.repository_id,
        subject.c.digest == manifests.c.subject,
    )


def _untagged_query(keep_orphan_referrers: bool) -> ColumnElement[bool]:
    """Manifests gc may delete as untagged: no tag, no tagged parent, no live subject (and
    no subject at all, when referrers of a deleted subject are to be kept)."""
    referrer = manifests.c.subject.is_not(None)
    return and_(
        ~_tagged(manifests.c.blob_key, manifests.c.repository_id),
        ~_child_of_tagged(),
        ~referrer if keep_orphan_referrers else (~referrer | ~_subject_present()),
    )


def _orphan_referrers_query() -> ColumnElement[bool]:
    return and_(
        manifests.c.subject.is_not(None),
        ~_subject_present(),
        ~_tagged(manifests.c.blob_key, manifests.c.repository_id),
    )


async def untagged(run: Run) -> None:
    if run.policy.delete_untagged:
        condition = _untagged_query(run.policy.keep_orphan_referrers)
        await _delete_manifests(run, and_(condition, ~_kept_cache(run, manifests.c.repository_id)))


async def idle_caches(run: Run) -> None:
    """Every manifest of cached repositories no client pulled within the window."""
    if run.policy.caches.prefixes:
        await _delete_manifests(run, _idle_cache(run, manifests.c.repository_id))


async def orphan_referrers(run: Run) -> None:
    if not run.policy.keep_orphan_referrers:
        condition = _orphan_referrers_query()
        await _delete_manifests(run, and_(condition, ~_kept_cache(run, manifests.c.repository_id)))


async def _delete_manifests(run: Run, condition: ColumnElement[bool]) -> None:
    wanted = and_(condition, manifests.c.created < run.cutoff)
    position = tuple_(manifests.c.repository_id, manifests.c.blob_key)
    after: tuple[int, str] = (-1, "")
    while True:
        async with run.transaction() as conn:
            found = await conn.execute(
                select(manifests.c.repository_id, manifests.c.blob_key)
                .where(wanted, position > tuple_(*after))
                .order_by(manifests.c.repository_id, manifests.c.blob_key)
                .limit(BATCH)
                .with_for_update(of=manifests, **run.lock)
            )
            batch = [(row.repository_id, row.blob_key) for row in found]
            if not batch:
                return
            after = batch[-1]
            await _delete_manifest_batch(run, conn, wanted, batch)


async def _delete_manifest_batch(
    run: Run, conn: Conn, wanted: ColumnElement[bool], batch: list[tuple[int, str]]
) -> None:
    """Re-check the candidates (locked now) in the statement that deletes their rows, one
    statement (SQLite: begun outside the write lock, a separate check could be stale);
    then their links, references and tags."""
    position = tuple_(manifests.c.repository_id, manifests.c.blob_key)
    removed = (
        await conn.execute(
            delete(manifests)
            .where(wanted, position.in_(batch))
            .returning(manifests.c.repository_id, manifests.c.blob_key, manifests.c.digest)
        )
    ).all()
    if not removed:
        return
    ids = {row.repository_id for row in removed}
    found = await conn.execute(
        select(repositories.c.id, repositories.c.name).where(repositories.c.id.in_(ids))
    )
    names = {row.id: row.name for row in found}
    for row in removed:
        name = names[row.repository_id]
        await remove_manifest(conn, row, name, ACTOR, "manifest.collect")
        await _forget_cached(conn, name, row.digest)
        run.report.manifests.append(f"{name}@{row.digest}")


async def _forget_cached(conn: Conn, repository: str, digest: str) -> None:
    """The pull-through cache's rows of a collected manifest: its tags and its digest."""
    await conn.execute(
        delete(cached_manifests).where(
            cached_manifests.c.repository == repository, cached_manifests.c.digest == digest
        )
    )


# Links -------------------------------------------------------------------------------


def _unneeded_link(run: Run) -> ColumnElement[bool]:
    """A link no manifest of its repository is, or references; in a cached repository, a
    link of one that holds no manifest and no client pulled within the window."""
    repo_id = repository_blobs.c.repository_id
    holds_manifest = exists().where(manifests.c.repository_id == repo_id)
    cached = _cached(repo_id, run.policy.caches.prefixes)
    return and_(
        ~(cached & (holds_manifest | _pulled_within(repo_id, run.pulled_since))),
        ~exists().where(
            manifests.c.repository_id == repository_blobs.c.repository_id,
            manifests.c.blob_key == repository_blobs.c.blob_key,
        ),
        ~exists().where(
            manifest_refs.c.repository_id == repository_blobs.c.repository_id,
            manifest_refs.c.child_key == repository_blobs.c.blob_key,
        ),
    )


async def links(run: Run) -> None:
    wanted = and_(_unneeded_link(run), repository_blobs.c.created < run.cutoff)
    position = tuple_(repository_blobs.c.repository_id, repository_blobs.c.blob_key)
    after: tuple[int, str] = (-1, "")
    while True:
        async with run.transaction() as conn:
            found = await conn.execute(
                select(repository_blobs.c.repository_id, repository_blobs.c.blob_key)
                .where(wanted, position > tuple_(*after))
                .order_by(repository_blobs.c.repository_id, repository_blobs.c.blob_key)
                .limit(BATCH)
                .with_for_update(**run.lock)
            )
            batch = [(row.repository_id, row.blob_key) for row in found]
            if not batch:
                return
            after = batch[-1]
            removed = await conn.execute(
                delete(repository_blobs)
                .where(wanted, position.in_(batch))
                .returning(repository_blobs.c.repository_id)
            )
            repo_ids = [row.repository_id for row in removed]
            await _record_links(conn, repo_ids)
            run.report.links += len(repo_ids)


async def _record_links(conn: Conn, repo_ids: list[int]) -> None:
    """One event per repository that lost links: other processes drop its cached answers."""
    counts: dict[int, int] = {}
    for repo_id in repo_ids:
        counts[repo_id] = counts.get(repo_id, 0) + 1
    if not counts:
        return
    names = await conn.execute(
        select(repositories.c.id, repositories.c.name).where(repositories.c.id.in_(counts))
    )
    for row in names:
        await events.record(conn, ACTOR, "link.collect", row.name, links=counts[row.id])


# Blobs -------------------------------------------------------------------------------


def _unlinked() -> ColumnElement[bool]:
    return and_(
        ~exists().where(repository_blobs.c.blob_key == blobs.c.key),
        ~exists().where(manifests.c.blob_key == blobs.c.key),
    )


async def mark(run: Run) -> None:
    """Blobs nothing links become eligible, from now (the grace counts from here)."""
    async with run.transaction() as conn:
        marked = await conn.execute(
            update(blobs)
            .where(blobs.c.eligible_since.is_(None), blobs.c.sweeping.is_(None), _unlinked())
            .values(eligible_since=run.started)
        )
    run.report.marked += max(getattr(marked, "rowcount", 0), 0)


async def sweep(run: Run) -> None:
    eligible = and_(blobs.c.eligible_since <= run.cutoff, blobs.c.sweeping.is_(None), _unlinked())
    after = ""
    while True:
        async with run.transaction() as conn:
            found = await conn.execute(
                select(blobs.c.key)
                .where(eligible, blobs.c.key > after)
                .order_by(blobs.c.key)
                .limit(BATCH)
                .with_for_update(**run.lock)
            )
            batch = list(found.scalars())
            if not batch:
                return
            after = batch[-1]
            # Re-checked in this statement, on rows locked: a link committed meanwhile wins.
            await conn.execute(
                update(blobs).where(eligible, blobs.c.key.in_(batch)).values(sweeping=run.started)
            )
        await _finish_sweeping(run, batch)


async def resume(run: Run) -> None:
    """Blobs a run that died was sweeping (one run at a time: the gc lease)."""
    after = ""
    while True:
        async with run.transaction() as conn:
            found = await conn.execute(
                select(blobs.c.key)
                .where(blobs.c.sweeping.is_not(None), blobs.c.key > after)
                .order_by(blobs.c.key)
                .limit(BATCH)
            )
            batch = list(found.scalars())
        if not batch:
            return
        after = batch[-1]
        await _finish_sweeping(run, batch)


async def _finish_sweeping(run: Run, candidates: list[str]) -> None:
    """Bytes first, then the rows: a crash in between leaves rows marked sweeping, which
    no push can link and the next run finishes."""
    async with run.transaction() as conn:
        rows = (
            await conn.execute(
                select(blobs.c.key, blobs.c.size, digest_aliases.c.hex)
                .outerjoin(
                    digest_aliases,
                    and_(
                        digest_aliases.c.blob_key == blobs.c.key,
                        digest_aliases.c.algorithm == "sha256",
                    ),
                )
                .where(blobs.c.key.in_(candidates), blobs.c.sweeping.is_not(None))
            )
        ).all()
    await run.delete_objects([layout.blob_key(row.key) for row in rows])
    if run.policy.dry_run:
        run.swept.update(row.key for row in rows)
    async with run.transaction() as conn:
        keys = [row.key for row in rows]
        await conn.execute(delete(digest_aliases).where(digest_aliases.c.blob_key.in_(keys)))
        await conn.execute(
            delete(blobs).where(blobs.c.key.in_(keys), blobs.c.sweeping.is_not(None))
        )
        collected = [
            {"digest": _digest(row.hex, row.key), "key": row.key, "size": row.size} for row in rows
        ]
        await events.record_each(conn, ACTOR, "blob.collect", None, collected)
    run.report.blobs.extend(item["digest"] for item in collected)
    run.report.bytes += sum(row.size for row in rows)


def _digest(sha256_hex: str | None, key: str) -> str:
    return f"sha256:{sha256_hex}" if sha256_hex else f"blake3:{key}"


# Uploads -----------------------------------------------------------------------------


async def abandoned_uploads(run: Run) -> None:
    idle = uploads.c.updated < run.upload_cutoff
    after = ""
    while True:
        async with run.transaction() as conn:
            removed = (
                await conn.execute(
                    delete(uploads)
                    .where(
                        idle,
                        uploads.c.id.in_(
                            select(uploads.c.id)
                            .where(idle, uploads.c.id > after)
                            .order_by(uploads.c.id)
                            .limit(BATCH)
                            .scalar_subquery()
                        ),
                    )
                    .returning(uploads.c.id, uploads.c.repository, uploads.c.size)
                )
            ).all()
            for row in removed:
                await events.record(
                    conn, ACTOR, "upload.collect", row.repository, upload=row.id, size=row.size
                )
        if not removed:
            return
        after = max(row.id for row in removed)
        for row in removed:
            await _discard_upload(run, row.id)
            run.report.uploads += 1
            run.report.upload_bytes += row.size


async def _discard_upload(run: Run, upload_id: str) -> None:
    await run.delete_object(layout.upload_dir(upload_id))
    unfinished = multipart(run.objects)
    if unfinished is not None and not run.policy.dry_run:
        await unfinished.abort_unfinished(layout.upload_dir(upload_id) + "/")


# Orphan objects ----------------------------------------------------------------------


async def orphans(run: Run) -> None:
    """Objects a crash left without a row: blob bytes published but never recorded, chunks
    of sessions whose row is gone. Only what the store can date, older than the grace."""
    store = dated(run.objects)
    if store is None:
        return
    batch: list[str] = []
    async for key, modified in store.list_dated(layout.BLOBS):
        if modified < run.cutoff:
            batch.append(key)
        if len(batch) >= BATCH:
            await _orphan_blobs(run, batch)
            batch = []
    await _orphan_blobs(run, batch)
    await _orphan_uploads(run, store)
    unfinished = multipart(run.objects)
    if unfinished is not None and not run.policy.dry_run:
        await unfinished.abort_unfinished(layout.UPLOADS + "/", run.upload_cutoff)


async def _orphan_blobs(run: Run, keys: list[str]) -> None:
    by_hex = {hex_key: key for key in keys if (hex_key := layout.blob_hex(key)) is not None}
    for key in keys:  # not a blob key: the temp file of a write that died
        if layout.blob_hex(key) is None:
            await run.delete_object(key)
            run.report.orphans += 1
    unknown = sorted(hex_key for hex_key in by_hex if hex_key not in run.swept)
    if not unknown:
        return
    # An object no row knows may be a push between its publish and its commit. The
    # collector claims it as a push would, with a row of its own marked sweeping: a push
    # that inserted first keeps it (its row exists: nothing is claimed), one that comes
    # after meets `sweeping` and fails with BlobSwept, to be pushed again.
    async with run.transaction() as conn:
        claimed = list(
            (
                await conn.execute(
                    run.db.insert_ignore(blobs)
                    .values(
                        [
                            {"key": k, "size": 0, "created": run.started, "sweeping": run.started}
                            for k in unknown
                        ]
                    )
                    .returning(blobs.c.key)
                )
            ).scalars()
        )
    if not claimed:
        return
    await run.delete_objects([by_hex[hex_key] for hex_key in claimed])
    async with run.transaction() as conn:
        await conn.execute(
            delete(blobs).where(blobs.c.key.in_(claimed), blobs.c.sweeping.is_not(None))
        )
    run.report.orphans += len(claimed)


async def _orphan_uploads(run: Run, store: Dated) -> None:
    sessions: dict[str, datetime] = {}
    async for key, modified in store.list_dated(layout.UPLOADS):
        upload_id = layout.upload_id_of(key)
        if upload_id is not None:
            sessions[upload_id] = max(modified, sessions.get(upload_id, modified))
        if len(sessions) >= BATCH:
            await _orphan_sessions(run, sessions)
            sessions = {}
    await _orphan_sessions(run, sessions)


async def _orphan_sessions(run: Run, sessions: dict[str, datetime]) -> None:
    old = [upload_id for upload_id, modified in sessions.items() if modified < run.cutoff]
    if not old:
        return
    async with run.transaction() as conn:
        known = set(
            (await conn.execute(select(uploads.c.id).where(uploads.c.id.in_(old)))).scalars()
        )
    for upload_id in old:
        if upload_id not in known:
            await run.delete_object(layout.upload_dir(upload_id))
            run.report.orphans += 1


STAGES: list[Callable[[Run], Awaitable[None]]] = [
    untagged,
    idle_caches,
    orphan_referrers,
    resume,
    links,
    mark,
    sweep,
    abandoned_uploads,
    orphans,
]
