"""Readiness: can this process reach the database and the object store it serves from?

Each probe is one cheap round trip under a short timeout; a failure is reported
with its reason rather than raised, so a probe endpoint always answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from storage.database import Database
from storage.errors import StorageError
from storage.objects import ObjectStore

PROBE_TIMEOUT = 3.0
# A key that never exists: stat costs one lookup (a HEAD on S3) and writes nothing.
PROBE_KEY = "health/probe"
OK = "ok"


async def check(db: Database, objects: ObjectStore) -> dict[str, str]:
    """ "ok", or why not, for each backend."""
    database, objects_state = await asyncio.gather(probe(db.ping()), probe(objects.stat(PROBE_KEY)))
    return {"database": database, "objects": objects_state}


async def probe(step: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(step, PROBE_TIMEOUT)
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:g}s"
    except StorageError as exc:
        return str(exc.detail or type(exc).__name__)
    except Exception as exc:  # a probe reports every failure; it never fails itself
        return f"{type(exc).__name__}: {exc}"
    return OK
