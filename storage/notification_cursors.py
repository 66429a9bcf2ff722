"""Where each notification sink stands in the event log, and which process delivers it.

One row per sink: the last event it was given (or that its filter passed over) and
a lease. A process delivers a sink only while it holds the lease, and renews it
before each delivery for longer than a delivery may take, so two processes (workers
of one server, or replicas sharing PostgreSQL) never deliver one sink at the same
time. A holder that dies leaves its lease to expire; the next holder starts after
the last event the dead one recorded, so what it had sent but not yet recorded is
sent again, under the same event ids: at least once, never lost.

Lease times come from the clock of the process that writes them: replicas on
several machines need clocks in step (NTP) to well within a lease.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update

from storage.database import Database, rowcount
from storage.events import last_seq
from storage.schema import notification_cursors as cursors


def _now() -> datetime:
    return datetime.now(UTC)


class NotificationCursors:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, sinks: Iterable[str]) -> None:
        """A row for each sink seen for the first time, at the end of the log: a new sink
        gets the events from now on. Sinks seen before keep their place."""
        end = await last_seq(self.db)
        async with self.db.write() as conn:
            for sink in sorted(sinks):
                row = {"sink": sink, "seq": end, "updated": _now()}
                await conn.execute(self.db.insert_ignore(cursors).values(**row))

    async def claim(self, sink: str, owner: str, seconds: float) -> int | None:
        """Take the lease, or renew it, for `seconds`; the sink's place in the log while
        `owner` holds it, None while another process does."""
        now = _now()
        free = or_(
            cursors.c.lease_owner == owner,
            cursors.c.lease_owner.is_(None),
            cursors.c.lease_expires < now,
        )
        lease = {"lease_owner": owner, "lease_expires": now + timedelta(seconds=seconds)}
        async with self.db.write() as conn:
            taken = await conn.execute(
                update(cursors).where(cursors.c.sink == sink, free).values(**lease)
            )
            if rowcount(taken) != 1:
                return None
            found = await conn.execute(select(cursors.c.seq).where(cursors.c.sink == sink))
            return int(found.scalar_one())

    async def advance(self, sink: str, owner: str, seq: int) -> bool:
        """Record that the sink has had everything up to `seq`; False when `owner` lost
        the lease meanwhile (the new holder goes on from the last recorded place)."""
        held = (cursors.c.sink == sink) & (cursors.c.lease_owner == owner)
        async with self.db.write() as conn:
            moved = await conn.execute(update(cursors).where(held).values(seq=seq, updated=_now()))
        return rowcount(moved) == 1

    async def release(self, sink: str, owner: str) -> None:
        """Give the lease up (on shutdown), so another process takes over at once."""
        held = (cursors.c.sink == sink) & (cursors.c.lease_owner == owner)
        async with self.db.write() as conn:
            await conn.execute(
                update(cursors).where(held).values(lease_owner=None, lease_expires=None)
            )

    async def position(self, sink: str) -> int | None:
        async with self.db.read() as conn:
            found = await conn.execute(select(cursors.c.seq).where(cursors.c.sink == sink))
        value = found.scalar()
        return int(value) if value is not None else None
