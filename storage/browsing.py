"""Read-only views over the metadata for people browsing a registry: repositories with
their tag counts, sizes and last pushes, the tags of a repository, one manifest with the
sha256 and BLAKE3 digests of everything it references, its referrer tree, store totals.

Every listing is a page after a name (keyset, not offset, so page 200 of 10,000
repositories costs what page 1 does), and the figures of a page come from one grouped
query per figure over the page's rows, never one query per row.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, FromClause, Row, Select, and_, func, select

from manifests.digest import Digest
from manifests.parse import Descriptor, Manifest, parse_manifest
from storage import events
from storage.database import Conn, Database
from storage.errors import NameUnknown
from storage.manifest_store import ManifestStore, StoredManifest, stored_descriptor
from storage.repositories import repository_id, resolve_all_in_repository
from storage.schema import blobs, manifest_refs, manifests, repositories, repository_blobs, tags

SCAN_BATCH = 1000  # repository names read at a time when a policy hides some of them
TREE_DEPTH = 4  # referrers of referrers of ...: a signature of an SBOM of an image
TREE_LIMIT = 200  # referrers shown under one manifest at most
PLATFORMS_KEPT = 10_000  # indexes whose platforms stay parsed in memory
T = TypeVar("T")
_STORED = select(func.count().label("blobs"), func.sum(blobs.c.size).label("bytes"))


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    name: str
    tags: int
    size: int  # logical: every blob the repository may read, manifests included
    last_push: datetime | None


@dataclass(frozen=True, slots=True)
class TagSummary:
    name: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int  # the manifest and what it references directly
    pushed: datetime
    platforms: tuple[str, ...] = ()  # for an index: os/architecture[/variant] of each child


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_after: str | None  # the name to continue after; None on the last page


@dataclass(frozen=True, slots=True)
class ReferrerNode:
    descriptor: Descriptor
    groups: dict[str, list[ReferrerNode]] = field(default_factory=dict)  # by artifactType


@dataclass(frozen=True, slots=True)
class ManifestDetails:
    repository: str
    digest: str
    blake3: str  # the storage key of the manifest's bytes
    size: int
    manifest: Manifest
    body: bytes
    blake3_of: dict[Digest, str]  # referenced digest → BLAKE3 hex, for those the repository holds
    tags: list[str]
    referrers: dict[str, list[ReferrerNode]]  # by artifactType


@dataclass(frozen=True, slots=True)
class StoreTotals:
    repositories: int
    blobs: int
    stored_bytes: int  # each blob once
    logical_bytes: int  # each blob once per repository that may read it

    @property
    def dedupe_ratio(self) -> float:
        return self.logical_bytes / self.stored_bytes if self.stored_bytes else 1.0

    @property
    def saved_bytes(self) -> int:
        return self.logical_bytes - self.stored_bytes


class Browsing:
    def __init__(self, db: Database, manifest_store: ManifestStore) -> None:
        self.db = db
        self.manifest_store = manifest_store
        # The platforms of an index by its BLAKE3 key: content under a key never changes,
        # and a page of 100 indexes otherwise looks up and parses 100 manifests each time.
        self.platforms: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    async def repositories(
        self,
        after: str | None,
        limit: int,
        contains: str = "",
        visible: Callable[[str], bool] | None = None,
    ) -> Page[RepositorySummary]:
        """Repositories after `after` by name whose name contains `contains`; only those
        `visible` keeps, when given."""
        async with self.db.read() as conn:
            found = await _repository_names(conn, after, limit, contains, visible)
            more = len(found) > limit
            found = found[:limit]
            summaries = await _summaries(conn, found)
        return Page(summaries, found[-1][1] if more else None)

    async def tags(self, repository: str, after: str | None, limit: int) -> Page[TagSummary]:
        async with self.db.read() as conn:
            repo_id = await repository_id(conn, repository)
            if repo_id is None:
                raise NameUnknown({"name": repository})
            rows = (await conn.execute(_tag_rows(repo_id, after, limit + 1))).all()
            more = len(rows) > limit
            rows = rows[:limit]
            sizes = await _referenced_sizes(conn, repo_id, [row.blob_key for row in rows])
        platforms = await self._platforms(repository, rows)
        summaries = [_tag_summary(row, sizes, platforms) for row in rows]
        return Page(summaries, rows[-1].name if more else None)

    async def manifest(self, repository: str, reference: str) -> ManifestDetails:
        stored, body = await self.manifest_store.get(repository, reference)
        manifest = parse_manifest(body, stored.media_type)
        digest = Digest.parse(stored.digest)
        referenced = [d.digest for d in _descriptors(manifest)]
        async with self.db.read() as conn:
            blake3_of = await resolve_all_in_repository(conn, repository, referenced)
            tag_names = await _tags_of(conn, repository, stored.key)
        tree = await self.referrer_tree(repository, digest)
        return ManifestDetails(
            repository, stored.digest, stored.key, stored.size, manifest, body,
            blake3_of, tag_names, tree,
        )  # fmt: skip

    async def referrer_tree(
        self, repository: str, subject: Digest
    ) -> dict[str, list[ReferrerNode]]:
        """The referrers of `subject`, theirs in turn, down to TREE_DEPTH levels: one query a
        level, at most TREE_LIMIT referrers in all."""
        root = ReferrerNode(Descriptor("", subject, 0))
        level = {str(subject): root}
        shown = 0
        async with self.db.read() as conn:
            for _ in range(TREE_DEPTH):
                if not level or shown >= TREE_LIMIT:
                    break
                rows = await _referrer_rows(conn, repository, list(level), TREE_LIMIT - shown)
                shown += len(rows)
                level = _attach(level, rows)
        return root.groups

    async def totals(self) -> StoreTotals:
        """Counted now: a scan of the blob and link tables (the store page, not a hot path)."""
        async with self.db.read() as conn:
            stored = (await conn.execute(_STORED)).one()
            logical = await conn.execute(
                select(func.sum(blobs.c.size)).join_from(
                    repository_blobs, blobs, repository_blobs.c.blob_key == blobs.c.key
                )
            )
            count = await conn.execute(select(func.count()).select_from(repositories))
            return StoreTotals(
                count.scalar_one(), stored.blobs, stored.bytes or 0, logical.scalar_one() or 0
            )

    async def recent_events(self, limit: int) -> list[events.Event]:
        """The newest `limit` events, newest first."""
        last = await events.last_seq(self.db)
        found = await events.after(self.db, max(0, last - limit), limit)
        return found[::-1]

    async def _platforms(
        self, repository: str, rows: Sequence[Row[Any]]
    ) -> dict[str, tuple[str, ...]]:
        """The platforms of each index among the rows, parsed once from its bytes."""
        indexes = {row.blob_key: row.digest for row in rows if _is_index(row.media_type)}
        missing = {key: digest for key, digest in indexes.items() if key not in self.platforms}
        loaded = await asyncio.gather(
            *(self.manifest_store.get(repository, digest) for digest in missing.values())
        )
        for key, (stored, body) in zip(missing, loaded, strict=True):
            self._remember(key, _platforms_of(stored, body))
        return {key: self.platforms[key] for key in indexes if key in self.platforms}

    def _remember(self, key: str, platforms: tuple[str, ...]) -> None:
        self.platforms[key] = platforms
        if len(self.platforms) > PLATFORMS_KEPT:
            self.platforms.popitem(last=False)


async def _repository_names(
    conn: Conn,
    after: str | None,
    limit: int,
    contains: str,
    visible: Callable[[str], bool] | None,
) -> list[tuple[int, str]]:
    """Up to limit + 1 (id, name) pairs: one more than a page tells whether another follows."""
    found: list[tuple[int, str]] = []
    cursor = after
    batch = limit + 1 if visible is None else SCAN_BATCH
    while len(found) <= limit:
        rows = (await conn.execute(_name_query(cursor, contains, batch))).all()
        found += [(r.id, r.name) for r in rows if visible is None or visible(r.name)]
        if len(rows) < batch:
            break
        cursor = rows[-1].name
    return found[: limit + 1]


def _name_query(after: str | None, contains: str, batch: int) -> Select[tuple[int, str]]:
    query = select(repositories.c.id, repositories.c.name).order_by(repositories.c.name)
    if after:
        query = query.where(repositories.c.name > after)
    if contains:
        query = query.where(repositories.c.name.contains(contains, autoescape=True))
    return query.limit(batch)


async def _summaries(conn: Conn, found: list[tuple[int, str]]) -> list[RepositorySummary]:
    ids = [repo_id for repo_id, _ in found]
    if not ids:
        return []
    counts = await _grouped(conn, tags.c.repository_id, func.count(), ids)
    size = func.sum(blobs.c.size)
    linked = repository_blobs.join(blobs, repository_blobs.c.blob_key == blobs.c.key)
    sizes = await _grouped(conn, repository_blobs.c.repository_id, size, ids, linked)
    pushes = await _grouped(conn, manifests.c.repository_id, func.max(manifests.c.created), ids)
    return [
        RepositorySummary(name, counts.get(i, 0), sizes.get(i) or 0, _utc(pushes.get(i)))
        for i, name in found
    ]


async def _grouped(
    conn: Conn,
    key: ColumnElement[int],
    value: ColumnElement[Any],
    ids: list[int],
    source: FromClause | None = None,
) -> dict[int, Any]:
    """value per repository id among `ids`, grouped by `key`."""
    query = select(key.label("id"), value.label("value")).group_by(key).where(key.in_(ids))
    if source is not None:
        query = query.select_from(source)
    return {row.id: row.value for row in await conn.execute(query)}


def _tag_rows(repo_id: int, after: str | None, limit: int) -> Select[tuple[object, ...]]:
    tagged = and_(
        manifests.c.repository_id == tags.c.repository_id,
        manifests.c.blob_key == tags.c.manifest_key,
    )
    query = (
        select(
            tags.c.name,
            tags.c.updated,
            manifests.c.digest,
            manifests.c.media_type,
            manifests.c.artifact_type,
            manifests.c.size,
            manifests.c.blob_key,
        )
        .join(manifests, tagged)
        .where(tags.c.repository_id == repo_id)
    )
    if after:
        query = query.where(tags.c.name > after)
    return query.order_by(tags.c.name).limit(limit)


async def _referenced_sizes(conn: Conn, repo_id: int, keys: list[str]) -> dict[str, int]:
    """The bytes each manifest references directly (config and layers, or child manifests)."""
    if not keys:
        return {}
    query = (
        select(manifest_refs.c.manifest_key, func.sum(blobs.c.size).label("size"))
        .join(blobs, blobs.c.key == manifest_refs.c.child_key)
        .where(manifest_refs.c.repository_id == repo_id, manifest_refs.c.manifest_key.in_(keys))
        .group_by(manifest_refs.c.manifest_key)
    )
    return {row.manifest_key: int(row.size or 0) for row in await conn.execute(query)}


def _tag_summary(
    row: Row[Any], sizes: dict[str, int], platforms: dict[str, tuple[str, ...]]
) -> TagSummary:
    key: str = row.blob_key
    return TagSummary(
        name=row.name,
        digest=row.digest,
        media_type=row.media_type,
        artifact_type=row.artifact_type,
        size=row.size + sizes.get(key, 0),
        pushed=_utc(row.updated) or datetime.now(UTC),
        platforms=platforms.get(key, ()),
    )


def _is_index(media_type: str) -> bool:
    return media_type.endswith(("image.index.v1+json", "manifest.list.v2+json"))


def _platforms_of(stored: StoredManifest, body: bytes) -> tuple[str, ...]:
    manifest = parse_manifest(body, stored.media_type)
    return tuple(platform_name(child) for child in manifest.children if child.platform)


def platform_name(descriptor: Descriptor) -> str:
    """os/architecture[/variant] of an index child; "" when it names no platform."""
    platform = descriptor.platform or {}
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    return "/".join(str(part) for part in parts if part)


def _descriptors(manifest: Manifest) -> Iterable[Descriptor]:
    if manifest.config is not None:
        yield manifest.config
    yield from manifest.layers
    yield from manifest.children
    if manifest.subject is not None:
        yield manifest.subject


async def _tags_of(conn: Conn, repository: str, key: str) -> list[str]:
    query = (
        select(tags.c.name)
        .join(repositories, repositories.c.id == tags.c.repository_id)
        .where(repositories.c.name == repository, tags.c.manifest_key == key)
        .order_by(tags.c.name)
    )
    return list((await conn.execute(query)).scalars())


async def _referrer_rows(
    conn: Conn, repository: str, subjects: list[str], limit: int
) -> list[Row[Any]]:
    query = (
        select(manifests)
        .join(repositories, repositories.c.id == manifests.c.repository_id)
        .where(repositories.c.name == repository, manifests.c.subject.in_(subjects))
        .order_by(manifests.c.artifact_type, manifests.c.created, manifests.c.digest)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


def _attach(level: dict[str, ReferrerNode], rows: list[Row[Any]]) -> dict[str, ReferrerNode]:
    """Hangs each row under its subject's node; the new nodes, by digest, for the next level."""
    below: dict[str, ReferrerNode] = {}
    for row in rows:
        node = ReferrerNode(stored_descriptor(row))
        kind = node.descriptor.artifact_type or node.descriptor.media_type
        level[row.subject].groups.setdefault(kind, []).append(node)
        below[str(node.descriptor.digest)] = node
    return below


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
