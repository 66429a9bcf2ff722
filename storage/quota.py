"""Quotas, checked before bytes are linked into a repository: an upload's close, a mount,
a manifest push (BlobStore.check_quotas).

A quota counts the unique bytes linked into the repositories its globs cover: a blob
counts once per quota however many of them hold it, so a re-push or a mount of content
the quota already counts adds nothing. The count is one aggregate query over the links
of the quota's repositories (no counter table to keep), run in a read before the write
transaction: a refused push writes nothing. Pushes in flight between their check and
their commit see each other's links only once committed, so together they may
overshoot a limit by their own bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from storage.database import Conn
from storage.errors import QuotaExceeded
from storage.policy import Quota
from storage.schema import blobs, repositories, repository_blobs


async def check(conn: Conn, quotas: Sequence[Quota], key: str, size: int) -> None:
    """Raise QuotaExceeded when linking blob `key` of `size` bytes takes a quota over."""
    for quota in quotas:
        covered = await covered_ids(conn, quota)
        if await _holds(conn, covered, key):
            continue
        used = await used_bytes(conn, covered)
        if used + size > quota.max_bytes:
            raise _exceeded(quota, used, size)


async def covered_ids(conn: Conn, quota: Quota) -> list[int]:
    """Ids of the repositories the quota covers (matched here: SQL has no such globs)."""
    rows = await conn.execute(select(repositories.c.id, repositories.c.name))
    return [row.id for row in rows if quota.repositories.matches(row.name)]


async def used_bytes(conn: Conn, covered: Sequence[int]) -> int:
    """Bytes of the distinct blobs linked into any of the repositories."""
    if not covered:
        return 0
    linked = select(repository_blobs.c.blob_key).where(
        repository_blobs.c.repository_id.in_(covered)
    )
    total = select(func.coalesce(func.sum(blobs.c.size), 0)).where(blobs.c.key.in_(linked))
    return int((await conn.execute(total)).scalar_one())


async def _holds(conn: Conn, covered: Sequence[int], key: str) -> bool:
    if not covered:
        return False
    query = select(repository_blobs.c.blob_key).where(
        repository_blobs.c.repository_id.in_(covered), repository_blobs.c.blob_key == key
    )
    return (await conn.execute(query.limit(1))).first() is not None


def _exceeded(quota: Quota, used: int, size: int) -> QuotaExceeded:
    over = used + size - quota.max_bytes
    message = (
        f"{quota} exceeded: {used} bytes used, this push adds {size}, {over} bytes over the limit"
    )
    detail = {"quota": quota.number, "max_bytes": quota.max_bytes, "used": used, "adds": size}
    return QuotaExceeded(message, detail | {"over": over})
