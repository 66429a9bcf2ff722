"""Leases on registry-wide jobs (gc, scrub): one process at a time runs each, among the
workers of one server and the replicas sharing PostgreSQL.

A holder renews its lease more often than it lasts; a holder that dies leaves it
to expire, and the next process to ask takes it over. Lease times come from the
clock of the process that writes them: replicas on several machines need clocks
in step (NTP) to well within a lease.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update

from storage.database import Database, rowcount
from storage.schema import leases


def owner_name() -> str:
    """Who holds a lease, for an operator reading the table: host, process, a nonce."""
    return f"{socket.gethostname()[:64]}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def died_here(owner: str) -> bool:
    """The owner was a process of this machine that is gone (killed, say): its lease need
    not be waited out. A pid reused since reads as alive, which only means waiting."""
    host, _, rest = owner.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname()[:64] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, name: str, owner: str, seconds: float) -> bool:
        """Take the lease on `name`, or renew it, for `seconds`; False while another
        process holds it."""
        now = datetime.now(UTC)
        free = or_(leases.c.owner == owner, leases.c.owner.is_(None), leases.c.expires < now)
        until = now + timedelta(seconds=seconds)
        async with self.db.write() as conn:
            await conn.execute(self.db.insert_ignore(leases).values(name=name))
            taken = await conn.execute(
                update(leases).where(leases.c.name == name, free).values(owner=owner, expires=until)
            )
        return rowcount(taken) == 1

    async def claim_from_dead(self, name: str, owner: str, seconds: float) -> bool:
        """`claim`, and failing that, take the lease over from a holder that died on this
        machine."""
        if await self.claim(name, owner, seconds):
            return True
        async with self.db.read() as conn:
            holder = await conn.execute(select(leases.c.owner).where(leases.c.name == name))
            current = holder.scalar()
        if current is None or not died_here(current):
            return False
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        async with self.db.write() as conn:
            taken = await conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.owner == current)
                .values(owner=owner, expires=until)
            )
        return rowcount(taken) == 1

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up, so another process may take it at once."""
        held = (leases.c.name == name) & (leases.c.owner == owner)
        async with self.db.write() as conn:
            await conn.execute(update(leases).where(held).values(owner=None, expires=None))
