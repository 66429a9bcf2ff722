"""Repository rows and the blob links that scope what each repository may read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from manifests.digest import Digest
from storage.database import Conn, Database, rowcount
from storage.errors import BlobSwept
from storage.lookup_cache import LookupCache
from storage.schema import blobs, digest_aliases, repositories, repository_blobs

# A link takes the blob back from gc: not eligible any more, and not being swept (else the
# push fails and is retried). The row lock it takes orders it with a sweep (storage/gc.py).
_CLAIM = (
    update(blobs)
    .where(blobs.c.key == bindparam("blob"), blobs.c.sweeping.is_(None))
    .values(eligible_since=None)
)
BATCH = 500  # digests per query: far below every driver's limit on bound parameters
_ALL_IN_REPOSITORY = (
    select(digest_aliases.c.hex, blobs.c.key)
    .join(blobs, blobs.c.key == digest_aliases.c.blob_key)
    .join(repository_blobs, repository_blobs.c.blob_key == blobs.c.key)
    .join(repositories, repositories.c.id == repository_blobs.c.repository_id)
    .where(
        repositories.c.name == bindparam("name"),
        digest_aliases.c.algorithm == bindparam("algorithm"),
        digest_aliases.c.hex.in_(bindparam("hexes", expanding=True)),
        blobs.c.quarantined.is_(None),
    )
)

_ALL_IN_REPOSITORY_LOCKED = _ALL_IN_REPOSITORY.with_for_update(read=True, of=repository_blobs)


def now() -> datetime:
    return datetime.now(UTC)


async def repository_id(conn: Conn, name: str) -> int | None:
    row = await conn.execute(select(repositories.c.id).where(repositories.c.name == name))
    return row.scalar()


async def ensure_repository(db: Database, conn: Conn, name: str, known: LookupCache[int]) -> int:
    """The repository's id, creating the row if needed.

    An id found before this transaction wrote anything is remembered in `known`
    (an id never changes while its repository exists); one this transaction
    created is not, since the transaction may yet roll back.
    """
    cached = known.get(name, "")
    if cached is not None:
        return cached
    generation = known.generation(name)
    found = await repository_id(conn, name)
    if found is not None:
        known.put(name, "", found, generation)
        return found
    await conn.execute(db.insert_ignore(repositories).values(name=name, created=now()))
    created = await repository_id(conn, name)
    assert created is not None
    return created


async def link_blob(db: Database, conn: Conn, repo_id: int, key: str) -> bool:
    """Let the repository read the blob; False when it already could. BlobSwept when gc is
    deleting it."""
    if not rowcount(await conn.execute(_CLAIM, {"blob": key})):
        raise BlobSwept({"key": key})
    result = await conn.execute(
        db.insert_ignore(repository_blobs),
        {"repository_id": repo_id, "blob_key": key, "created": now()},
    )
    return bool(rowcount(result))


async def resolve_key(
    conn: Conn, digest: Digest, *, quarantined: bool = False
) -> tuple[str, int] | None:
    """The storage key and size behind any registered digest, whatever the repository; a
    quarantined blob only when asked for (to delete what refers to it)."""
    query = (
        select(blobs.c.key, blobs.c.size)
        .join(digest_aliases, digest_aliases.c.blob_key == blobs.c.key)
        .where(digest_aliases.c.algorithm == digest.algorithm, digest_aliases.c.hex == digest.hex)
    )
    if not quarantined:
        query = query.where(blobs.c.quarantined.is_(None))
    row = (await conn.execute(query)).first()
    return None if row is None else (row.key, row.size)


async def resolve_in_repository(
    conn: Conn, repository: str, digest: Digest
) -> tuple[str, int] | None:
    """The key and size of a blob the repository may read, or None (quarantined: None)."""
    query = (
        select(blobs.c.key, blobs.c.size)
        .join(digest_aliases, digest_aliases.c.blob_key == blobs.c.key)
        .join(repository_blobs, repository_blobs.c.blob_key == blobs.c.key)
        .join(repositories, repositories.c.id == repository_blobs.c.repository_id)
        .where(
            digest_aliases.c.algorithm == digest.algorithm,
            digest_aliases.c.hex == digest.hex,
            repositories.c.name == repository,
            blobs.c.quarantined.is_(None),
        )
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row.key, row.size)


async def resolve_all_in_repository(
    conn: Conn, repository: str, digests: Sequence[Digest], *, lock: bool = False
) -> dict[Digest, str]:
    """The storage key of each digest the repository may read (those it cannot are left out):
    one query per algorithm and BATCH digests, not one per digest. With `lock`, the links
    found stay locked (FOR SHARE on PostgreSQL; SQLite has one writer) until the caller's
    transaction ends, so gc cannot remove them under a manifest being pushed."""
    query = _ALL_IN_REPOSITORY_LOCKED if lock else _ALL_IN_REPOSITORY
    by_algorithm: dict[str, list[str]] = {}
    for digest in dict.fromkeys(digests):
        by_algorithm.setdefault(digest.algorithm, []).append(digest.hex)
    found: dict[Digest, str] = {}
    for algorithm, hexes in by_algorithm.items():
        for start in range(0, len(hexes), BATCH):
            params = {
                "name": repository,
                "algorithm": algorithm,
                "hexes": hexes[start : start + BATCH],
            }
            rows = await conn.execute(query, params)
            found.update({Digest(algorithm, row.hex): row.key for row in rows})
    return found


async def record_blob(
    db: Database, conn: Conn, digests: dict[str, Digest], size: int
) -> tuple[str, bool]:
    """Make a published blob known under every digest computed for it; returns its key, and
    whether its row is new (then the caller checks that its bytes are still there: a sweep
    may have deleted them after the publish found them and before this transaction)."""
    key = digests["blake3"].hex
    at = now()  # the bytes were hashed as they came in: verified as of now
    inserted = await conn.execute(
        db.insert_ignore(blobs), {"key": key, "size": size, "created": at, "verified": at}
    )
    new = bool(rowcount(inserted))
    if not new and not rowcount(await conn.execute(_CLAIM, {"blob": key})):
        # The row is being swept, or a sweep deleted it since the insert met it: the row
        # lock the claim takes orders this push after that sweep, which it must not join.
        raise BlobSwept({"key": key})
    aliases = [{"algorithm": d.algorithm, "hex": d.hex, "blob_key": key} for d in digests.values()]
    await conn.execute(db.insert_ignore(digest_aliases), aliases)
    return key, new
