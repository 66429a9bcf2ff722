"""Who uses how much: per repository, its logical, unique and shared bytes; the store's
totals and dedupe; each quota's use. Aggregate queries, a handful per report, whatever
the number of blobs.

A repository's logical bytes are those of the distinct blobs linked into it (its
manifests, their configs and layers, blobs pushed but not yet referenced): what it
would take on its own. Its unique bytes are those of the blobs no other repository
holds (what deleting it could free); shared = logical - unique. Summed over the store,
the repositories' unique bytes plus the distinct shared ones are the stored bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, case, func, select

from storage import quota
from storage.database import Conn, Database
from storage.policy import NO_POLICY, Quota, StoragePolicy
from storage.schema import blobs, manifests, repositories, repository_blobs, tags


@dataclass(frozen=True)
class RepositoryUsage:
    name: str
    manifests: int
    tags: int
    logical_bytes: int
    unique_bytes: int
    shared_bytes: int


@dataclass(frozen=True)
class QuotaUsage:
    quota: int  # its number among the [[quota]] tables
    repositories: list[str]
    max_bytes: int
    used_bytes: int


@dataclass(frozen=True)
class UsageReport:
    repositories: list[RepositoryUsage]
    stored_bytes: int  # distinct blobs linked into any repository, each once
    logical_bytes: int  # the repositories' logical bytes summed
    quotas: list[QuotaUsage]

    @property
    def dedupe_savings_bytes(self) -> int:
        return self.logical_bytes - self.stored_bytes

    @property
    def dedupe_ratio(self) -> float:
        """Logical over stored: 2.0 when every byte is held by two repositories."""
        return self.logical_bytes / self.stored_bytes if self.stored_bytes else 1.0

    def document(self) -> dict[str, Any]:
        """The report as `usage --json` prints it and GET /v2/_usage serves it."""
        totals = {
            "stored_bytes": self.stored_bytes,
            "logical_bytes": self.logical_bytes,
            "dedupe_savings_bytes": self.dedupe_savings_bytes,
            "dedupe_ratio": round(self.dedupe_ratio, 4),
        }
        return {
            "repositories": [asdict(usage) for usage in self.repositories],
            "totals": totals,
            "quotas": [asdict(usage) for usage in self.quotas],
        }


async def report(
    db: Database, policy: StoragePolicy = NO_POLICY, repository: str | None = None
) -> UsageReport:
    """The whole store's report; with `repository`, only that one among the repositories
    (the totals stay the store's)."""
    async with db.read() as conn:
        sizes = {row.repository_id: row for row in await conn.execute(_logical_per_repository())}
        usages = await _repositories(conn, repository, sizes)
        stored = await _stored_bytes(conn)
        quotas = [await _quota_usage(conn, rule) for rule in policy.quotas]
    logical = sum(int(row.logical) for row in sizes.values())
    return UsageReport(usages, stored, logical, quotas)


async def _repositories(
    conn: Conn, only: str | None, sizes: dict[int, Any]
) -> list[RepositoryUsage]:
    names = select(repositories.c.id, repositories.c.name).order_by(repositories.c.name)
    if only is not None:
        names = names.where(repositories.c.name == only)
    rows = (await conn.execute(names)).all()
    counts = {
        "manifests": await _counts(conn, manifests.c.repository_id),
        "tags": await _counts(conn, tags.c.repository_id),
    }
    return [_usage(row.name, sizes.get(row.id), counts, row.id) for row in rows]


def _usage(
    name: str, sizes: Any, counts: dict[str, dict[int, int]], repo_id: int
) -> RepositoryUsage:
    logical = int(sizes.logical) if sizes is not None else 0
    unique = int(sizes.unique) if sizes is not None else 0
    return RepositoryUsage(
        name,
        counts["manifests"].get(repo_id, 0),
        counts["tags"].get(repo_id, 0),
        logical,
        unique,
        logical - unique,
    )


def _logical_per_repository() -> Select[Any]:
    """Per repository id: the bytes of its linked blobs, and of those only it links."""
    holders = (
        select(repository_blobs.c.blob_key, func.count().label("holders"))
        .group_by(repository_blobs.c.blob_key)
        .subquery()
    )
    only_here = case((holders.c.holders == 1, blobs.c.size), else_=0)
    return (
        select(
            repository_blobs.c.repository_id,
            func.sum(blobs.c.size).label("logical"),
            func.sum(only_here).label("unique"),
        )
        .join(blobs, blobs.c.key == repository_blobs.c.blob_key)
        .join(holders, holders.c.blob_key == repository_blobs.c.blob_key)
        .group_by(repository_blobs.c.repository_id)
    )


async def _counts(conn: Conn, column: Any) -> dict[int, int]:
    query = select(column.label("repository_id"), func.count().label("n")).group_by(column)
    return {row.repository_id: row.n for row in await conn.execute(query)}


async def _stored_bytes(conn: Conn) -> int:
    linked = select(repository_blobs.c.blob_key)
    return await _total(conn, blobs.c.size, blobs.c.key.in_(linked))


async def _total(conn: Conn, column: Any, *where: Any) -> int:
    query = select(func.coalesce(func.sum(column), 0)).where(*where)
    return int((await conn.execute(query)).scalar_one())


async def _quota_usage(conn: Conn, rule: Quota) -> QuotaUsage:
    used = await quota.used_bytes(conn, await quota.covered_ids(conn, rule))
    return QuotaUsage(rule.number, list(rule.repositories.patterns), rule.max_bytes, used)
