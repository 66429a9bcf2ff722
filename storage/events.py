"""The append-only event log: one row per state change, payload canonical CBOR.

Each record is written in the transaction that makes the change, so the log
and the state never disagree. Identical events encode to identical bytes.

Readers (the event stream, webhook delivery) walk the log by sequence number and
must never see event N+1 before event N, or a cursor would pass N by for good.
SQLite lets one writer in at a time, so its numbers commit in order. PostgreSQL
hands a number out when the row is inserted, not when its transaction commits; there
a transaction takes an advisory lock before it inserts an event and holds it until
it commits, so the next number is handed out only once the previous one is visible.
That orders the tail of concurrent writing transactions (from their first event to
their commit, a statement or two), nothing before it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import cbor2
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Conn, Database
from storage.schema import events

ACTIONS = frozenset(
    {
        "blob.push",
        "blob.mount",
        "blob.delete",
        "blob.pull",
        "blob.quarantine",
        "manifest.push",
        "manifest.delete",
        "manifest.pull",
        "tag.push",
        "tag.delete",
        # storage/gc.py: what the collector removed, and one summary per run
        "blob.collect",
        "manifest.collect",
        "link.collect",
        "upload.collect",
        "gc.run",
    }
)
LEADING = ("time", "action", "repository", "actor")  # the fields a record shows first
# One key for pg_advisory_xact_lock: event numbers commit in the order they are handed out.
EVENTS_LOCK = 0x61727465  # "arte"


class Origin(Protocol):
    """The request that caused a change, as the HTTP layer describes it."""

    def describe(self) -> dict[str, str]: ...


# Set by the HTTP layer for each request; recorded with its events as "request".
ORIGIN: ContextVar[Origin | None] = ContextVar("event_origin", default=None)


@dataclass(frozen=True)
class Event:
    """One row of the log: its number and its canonical CBOR payload."""

    seq: int
    payload: bytes

    def fields(self) -> dict[str, Any]:
        decoded: dict[str, Any] = cbor2.loads(self.payload)
        return decoded

    def record(self) -> dict[str, Any]:
        """The event as the stream shows it: its number, then the payload's fields (the
        common ones first)."""
        fields = self.fields()
        first = {key: fields.pop(key) for key in LEADING if key in fields}
        return {"seq": self.seq, **first, **fields}

    def json(self) -> str:
        return json.dumps(self.record(), default=json_value)


@dataclass(frozen=True)
class Pending:
    """An event to record later, in a batch (pulls): what `record` takes, and when."""

    actor: str
    action: str
    repository: str | None
    fields: dict[str, Any]
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    request: dict[str, str] | None = None


_INSERT = events.insert()
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_LAST = select(func.coalesce(func.max(events.c.seq), 0))


def canonical(value: Any) -> bytes:
    return cbor2.dumps(value, canonical=True)


def rfc3339(value: datetime) -> str:
    """UTC with a Z, as CBOR's tag 0 writes a time: the JSON and CBOR forms agree."""
    return value.isoformat().replace("+00:00", "Z")


def json_value(value: object) -> object:
    """What json.dumps cannot write by itself in a payload: times, and bytes (as hex)."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode_payload(fields: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in fields.items() if v is not None})


async def record(
    conn: Conn, actor: str, action: str, repository: str | None, **fields: Any
) -> None:
    origin = ORIGIN.get()
    request = origin.describe() if origin is not None else None
    pending = Pending(actor, action, repository, fields, request=request)
    await _order_commits(conn)
    await conn.execute(_INSERT, _row(pending))


async def record_each(
    conn: Conn, actor: str, action: str, repository: str | None, each: Sequence[dict[str, Any]]
) -> None:
    """One event per item of `each` (its fields), in one statement: a gc sweep's blobs."""
    if not each:
        return
    origin = ORIGIN.get()
    request = origin.describe() if origin is not None else None
    rows = [_row(Pending(actor, action, repository, f, request=request)) for f in each]
    await _order_commits(conn)
    await conn.execute(_INSERT, rows)


async def record_batch(db: Database, batch: Sequence[Pending]) -> None:
    """Several events in one transaction (pulls, which are not changes of state)."""
    if not batch:
        return
    async with db.write() as conn:
        await _order_commits(conn)
        await conn.execute(_INSERT, [_row(pending) for pending in batch])


def _row(pending: Pending) -> dict[str, Any]:
    assert pending.action in ACTIONS, pending.action
    payload = {
        "action": pending.action,
        "actor": pending.actor,
        "repository": pending.repository,
        "time": pending.time,
        "request": pending.request,
        **pending.fields,
    }
    return {
        "time": pending.time,
        "actor": pending.actor,
        "action": pending.action,
        "repository": pending.repository,
        "payload": encode_payload(payload),
    }


async def _order_commits(conn: Conn) -> None:
    if isinstance(conn, AsyncConnection) and conn.dialect.name == "postgresql":
        await conn.execute(_LOCK, {"key": EVENTS_LOCK})


async def after(db: Database, seq: int, limit: int) -> list[Event]:
    """Up to `limit` events after `seq`, oldest first."""
    query = select(events.c.seq, events.c.payload).where(events.c.seq > seq)
    async with db.read() as conn:
        rows = await conn.execute(query.order_by(events.c.seq).limit(limit))
    return [Event(row.seq, bytes(row.payload)) for row in rows]


async def last_seq(db: Database) -> int:
    """The newest event's number; 0 when the log is empty."""
    async with db.read() as conn:
        found = await conn.execute(_LAST)
    return int(found.scalar_one())


async def time_of(db: Database, seq: int) -> datetime | None:
    async with db.read() as conn:
        found = await conn.execute(select(events.c.time).where(events.c.seq == seq))
    value: datetime | None = found.scalar()
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
