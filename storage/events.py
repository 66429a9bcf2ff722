"""The append-only event log: one row per state change, payload canonical CBOR.

Each record is written in the transaction that makes the change, so the log
and the state never disagree. Identical events encode to identical bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cbor2

from storage.database import Conn
from storage.schema import events

ACTIONS = frozenset(
    {
        "blob.push",
        "blob.mount",
        "blob.delete",
        "manifest.push",
        "manifest.delete",
        "tag.push",
        "tag.delete",
    }
)


_INSERT = events.insert()


def encode_payload(fields: dict[str, Any]) -> bytes:
    return cbor2.dumps({k: v for k, v in fields.items() if v is not None}, canonical=True)


async def record(
    conn: Conn, actor: str, action: str, repository: str | None, **fields: Any
) -> None:
    assert action in ACTIONS, action
    now = datetime.now(UTC)
    payload = {"action": action, "actor": actor, "repository": repository, "time": now, **fields}
    await conn.execute(
        _INSERT,
        {
            "time": now,
            "actor": actor,
            "action": action,
            "repository": repository,
            "payload": encode_payload(payload),
        },
    )
