"""What the pull-through cache knows of each cached tag and digest: the digest upstream
gave, when upstream was last asked (a tag is trusted for its upstream's ttl after
that), and when a client last pulled it (storage/gc.py keeps a cached repository
whole while a pull of it is recent, and deletes the rows of what it collects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from storage.database import Database
from storage.repositories import now
from storage.schema import cached_manifests


@dataclass(frozen=True, slots=True)
class CachedReference:
    digest: str
    fetched_at: datetime


async def lookup(db: Database, repository: str, reference: str) -> CachedReference | None:
    query = select(cached_manifests.c.digest, cached_manifests.c.fetched_at).where(
        cached_manifests.c.repository == repository, cached_manifests.c.reference == reference
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else CachedReference(row.digest, _aware(row.fetched_at))


async def fetched(db: Database, repository: str, reference: str, digest: str) -> None:
    """Upstream was asked just now and gave `digest` (a client is pulling it)."""
    at = now()
    values = {
        "repository": repository,
        "reference": reference,
        "digest": digest,
        "fetched_at": at,
        "last_pulled": at,
    }
    async with db.write() as conn:
        await conn.execute(db.upsert(cached_manifests, ["repository", "reference"], values))


async def pulled(db: Database, repository: str, references: list[str]) -> None:
    """Clients pulled these references of the repository (served from the cache)."""
    query = (
        update(cached_manifests)
        .where(
            cached_manifests.c.repository == repository,
            cached_manifests.c.reference.in_(references),
        )
        .values(last_pulled=now())
    )
    async with db.write() as conn:
        await conn.execute(query)


def _aware(at: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time written here is UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
