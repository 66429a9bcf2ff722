"""Retention: which tags and manifests `[[retention]]` lets go, and their deletion.

For each repository a rule covers (the first rule that matches decides), a tag is
kept when it matches `keep_tags`, is among the `keep_most_recent` most recently
pushed, was pushed within `pushed_within`, or is immutable; the other tags go. A
manifest goes when a tag that goes named it and no kept tag does, or (with
`delete_untagged`) when no tag names it; but never while a manifest that stays
lists it (an index's children), nor while the manifest it refers to as its subject
stays (a signature of a kept image stays with it). What a deleted manifest referenced and nothing
that stays references is unlinked from the repository, so the garbage collector
finds those blobs unreferenced and reclaims their bytes after its grace period.

`plan` only reads; `apply_retention` plans, then (unless `dry_run`) deletes each
victim in a transaction of its own, shaped like a DELETE request's, that re-checks
the plan against what is there now: a tag pushed again meanwhile, or a manifest
tagged again, stays. Every deletion
is an event (`tag.delete`, `manifest.delete`) with the caller's actor.

`retain_then_collect` is what `artifact-store gc` and the background collector run:
retention, then a collection, both under the gc lease (a dry run takes no lease and
changes nothing, so its collection does not count what retention would free).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from storage import gc
from storage.database import Conn, Database
from storage.leases import Leases
from storage.policy import Retention, StoragePolicy
from storage.schema import manifest_refs, manifests, repositories, tags

if TYPE_CHECKING:
    from storage.gc import Policy, Report
    from storage.manifest_store import ManifestStore
    from storage.objects import ObjectStore

ACTOR = "retention"  # the actor of the deletion events retention records


@dataclass(frozen=True, slots=True)
class TagVictim:
    repository: str
    tag: str
    digest: str
    key: str  # the manifest's storage key when planned


@dataclass(frozen=True, slots=True)
class ManifestVictim:
    repository: str
    digest: str
    key: str


@dataclass
class RetentionPlan:
    dry_run: bool
    tags: list[TagVictim] = field(default_factory=list)
    manifests: list[ManifestVictim] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "tags": [_public(asdict(victim)) for victim in self.tags],
            "manifests": [_public(asdict(victim)) for victim in self.manifests],
        }

    def repositories(self) -> list[str]:
        names = [v.repository for v in self.tags] + [v.repository for v in self.manifests]
        return sorted(set(names))


@dataclass(frozen=True, slots=True)
class _Tag:
    name: str
    key: str
    updated: datetime


async def apply_retention(
    manifest_store: ManifestStore,
    policy: StoragePolicy,
    *,
    dry_run: bool,
    actor: str,
    now: datetime | None = None,
    heartbeat: Callable[[], Awaitable[None]] | None = None,
) -> RetentionPlan:
    """What retention deletes now; deleted unless `dry_run`. The plan returned lists what
    was planned: a victim that changed meanwhile is skipped, and the events say so.
    `heartbeat` is awaited after each repository (the gc lease's renewal)."""
    found = await plan(manifest_store.db, policy, now or datetime.now(UTC), dry_run=dry_run)
    if not dry_run:
        for repository in found.repositories():
            await manifest_store.retire(
                repository,
                [(v.tag, v.key) for v in found.tags if v.repository == repository],
                [v.key for v in found.manifests if v.repository == repository],
                actor,
            )
            if heartbeat is not None:
                await heartbeat()
    return found


@dataclass
class Collection:
    """A gc run's retention plan and the collector's report: None when the collection did
    not run, its lease lost to another process while retention ran (that one collects)."""

    retention: RetentionPlan
    report: Report | None

    def document(self) -> dict[str, Any]:
        collected = {} if self.report is None else self.report.as_json()
        return collected | {"retention": self.retention.document()}


async def retain_then_collect(
    manifest_store: ManifestStore,
    objects: ObjectStore,
    policy: Policy,
    owner: str,
    hold: float = 0.0,
) -> Collection | None:
    """Retention by the rules of `manifest_store.policy`, then a collection, under the gc
    lease held by `owner` (None when another process holds it). The manifests retention
    deletes leave their blobs unlinked: reclaimed by this run when `policy.grace` is 0,
    else by a run after the grace period. A dry run plans, collects dry, takes no lease."""
    db = manifest_store.db
    if policy.dry_run:
        rules = manifest_store.policy
        found = await apply_retention(manifest_store, rules, dry_run=True, actor=ACTOR)
        return Collection(found, await gc.collect(db, objects, policy))
    applied = await _retain_exclusively(manifest_store, owner, max(gc.LEASE_SECONDS, hold))
    if applied is None:
        return None
    # the same owner: collect_exclusively renews the lease it holds, releases it unless hold
    return Collection(applied, await gc.collect_exclusively(db, objects, policy, owner, hold))


async def _retain_exclusively(
    manifest_store: ManifestStore, owner: str, seconds: float
) -> RetentionPlan | None:
    """Retention under the gc lease, taken for `seconds` and kept for the collection
    (released if retention fails); None when another process holds it."""
    leases = Leases(manifest_store.db)
    if not await leases.claim_from_dead(gc.LEASE, owner, seconds):
        return None
    renewed = time.monotonic()

    async def renew() -> None:
        nonlocal renewed
        if time.monotonic() - renewed > gc.RENEW_EVERY:
            renewed = time.monotonic()
            await leases.claim(gc.LEASE, owner, seconds)

    try:
        rules = manifest_store.policy
        return await apply_retention(
            manifest_store, rules, dry_run=False, actor=ACTOR, heartbeat=renew
        )
    except BaseException:
        await leases.release(gc.LEASE, owner)
        raise


async def plan(
    db: Database, policy: StoragePolicy, now: datetime, *, dry_run: bool = True
) -> RetentionPlan:
    found = RetentionPlan(dry_run)
    if not policy.retention:
        return found
    async with db.read() as conn:
        query = select(repositories.c.id, repositories.c.name).order_by(repositories.c.name)
        for row in (await conn.execute(query)).all():
            rule = policy.retention_of(row.name)
            if rule is not None:
                await _plan_repository(conn, found, policy, rule, row.id, row.name, now)
    return found


async def _plan_repository(
    conn: Conn,
    found: RetentionPlan,
    policy: StoragePolicy,
    rule: Retention,
    repo_id: int,
    repository: str,
    now: datetime,
) -> None:
    tagged = await _tags(conn, repo_id)
    kept = _kept_tags(tagged, rule, now) | {
        t.name for t in tagged if policy.protecting(repository, t.name)
    }
    digests, subjects = await _manifests(conn, repo_id)
    gone_tags = [t for t in tagged if t.name not in kept]
    still_tagged = {t.key for t in tagged if t.name in kept}
    candidates = {t.key for t in gone_tags} - still_tagged
    if rule.delete_untagged:
        candidates |= set(digests) - {t.key for t in tagged}
    gone = _not_needed(candidates, set(digests), await _children(conn, repo_id), subjects, digests)
    found.tags += [TagVictim(repository, t.name, digests[t.key], t.key) for t in gone_tags]
    found.manifests += [ManifestVictim(repository, digests[k], k) for k in sorted(gone)]


def _kept_tags(tagged: list[_Tag], rule: Retention, now: datetime) -> set[str]:
    newest = sorted(tagged, key=lambda t: (t.updated, t.name), reverse=True)
    kept = {t.name for t in newest[: rule.keep_most_recent]}
    kept |= {t.name for t in tagged if rule.keep_tags.matches(t.name)}
    if rule.pushed_within is not None:
        since = now - timedelta(seconds=rule.pushed_within)
        kept |= {t.name for t in tagged if t.updated >= since}
    return kept


def _not_needed(
    candidates: set[str],
    every: set[str],
    children: dict[str, set[str]],
    subjects: dict[str, str],
    digests: dict[str, str],
) -> set[str]:
    """The candidates no staying manifest needs: none lists them, none is their subject.
    Keeping one may keep others (its children, its subject), so until nothing changes."""
    gone = set(candidates)
    while True:
        staying = every - gone
        staying_digests = {digests[key] for key in staying}
        needed = {child for key in staying for child in children.get(key, ())}
        needed |= {key for key in gone if subjects.get(key) in staying_digests}
        if not needed & gone:
            return gone
        gone -= needed


async def _tags(conn: Conn, repo_id: int) -> list[_Tag]:
    query = select(tags.c.name, tags.c.manifest_key, tags.c.updated).where(
        tags.c.repository_id == repo_id
    )
    return [
        _Tag(row.name, row.manifest_key, _utc(row.updated)) for row in await conn.execute(query)
    ]


async def _manifests(conn: Conn, repo_id: int) -> tuple[dict[str, str], dict[str, str]]:
    """Storage key -> digest of each manifest of the repository; key -> subject digest."""
    query = select(manifests.c.blob_key, manifests.c.digest, manifests.c.subject).where(
        manifests.c.repository_id == repo_id
    )
    rows = (await conn.execute(query)).all()
    return {r.blob_key: r.digest for r in rows}, {r.blob_key: r.subject for r in rows if r.subject}


async def _children(conn: Conn, repo_id: int) -> dict[str, set[str]]:
    """Manifest key -> the manifests it lists (an index's children)."""
    query = select(manifest_refs.c.manifest_key, manifest_refs.c.child_key).where(
        manifest_refs.c.repository_id == repo_id, manifest_refs.c.kind == "manifest"
    )
    children: dict[str, set[str]] = {}
    for row in await conn.execute(query):
        children.setdefault(row.manifest_key, set()).add(row.child_key)
    return children


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite


def _public(victim: dict[str, Any]) -> dict[str, Any]:
    """Without the storage key, which the API never shows."""
    return {name: value for name, value in victim.items() if name != "key"}


def victims_text(found: RetentionPlan) -> Iterable[str]:
    """A line per victim: `tag REPOSITORY:TAG DIGEST`, `manifest REPOSITORY@DIGEST`."""
    for tag in found.tags:
        yield f"tag       {tag.repository}:{tag.tag}  {tag.digest}"
    for manifest in found.manifests:
        yield f"manifest  {manifest.repository}@{manifest.digest}"
