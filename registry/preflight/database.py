"""The metadata database: reachable, accepting the credentials, its schema at this version's.

serve waits for a network database that does not answer yet (it may be starting
beside the registry), retrying with backoff until metadata_connect_timeout, and
logs each failed attempt; refused credentials or a missing database end the wait
at once. Then it migrates. `check` connects once and reads the schema revision in
a read-only transaction: it never creates or migrates anything.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

from registry.config import Settings
from registry.preflight.failure import (
    CONFIGURATION,
    ENVIRONMENT,
    StartupError,
    cause,
    path_error,
)
from registry.units import format_duration
from registry.version import package_version
from storage.database import (
    Database,
    SchemaState,
    default_url,
    display_url,
    migrate_url,
    revisions,
    sqlite_file,
)
from storage.errors import CredentialsRefused, SchemaError, StorageError, StoreMissing, Unavailable
from storage.progress import SILENT, Progress

log = logging.getLogger("artifact-store.startup")
FIRST_PAUSE = 0.5  # seconds before the second attempt; doubled for each one after
LONGEST_PAUSE = 5.0


def metadata_url(settings: Settings) -> str:
    return settings.metadata_url or default_url(Path(settings.data_dir))


async def prepare(settings: Settings) -> str:
    """serve: wait for the database, then bring its schema up to date."""
    revision = await migrate(settings)
    return f"{display_url(metadata_url(settings))} at revision {revision}"


async def migrate(settings: Settings, progress: Progress = SILENT) -> str | None:
    """Wait for the database, migrate it (one progress item per revision); the revision."""
    url = metadata_url(settings)
    if sqlite_file(url) is None:
        await wait_until_reachable(url, settings.metadata_connect_timeout)
    try:
        return await migrate_url(url, Path(settings.data_dir), progress)
    except StorageError as exc:
        raise failure(url, exc) from exc
    except OSError as exc:  # a full disk: no schema to serve from (read-only needs one)
        doing = "cannot write the metadata database in it"
        raise path_error("data_dir", Path(settings.data_dir), exc, doing) from exc


async def inspect(settings: Settings) -> str:
    """check: one connection, the schema revision read; nothing created or migrated."""
    url = metadata_url(settings)
    file = sqlite_file(url)
    if file is not None and not file.exists():
        count = len(revisions())
        return f"{display_url(url)} does not exist yet; serve creates it ({count} migrations)"
    database = Database(url)
    try:
        state = await database.schema()
    except StorageError as exc:
        raise failure(url, exc) from exc
    finally:
        await database.close()
    return described(url, state)


def described(url: str, state: SchemaState) -> str:
    subject = f"metadata database {display_url(url)}"
    if not state.known:
        raise StartupError(
            subject,
            f"its schema is at revision {state.current}, which artifact-store"
            f" {package_version()} does not carry (a newer version migrated it)",
            "run that newer version, or restore a backup taken before the upgrade",
            ENVIRONMENT,
        )
    if not state.pending:
        return f"{display_url(url)} at revision {state.current} (the newest)"
    pending = ", ".join(state.pending)
    return (
        f"{display_url(url)} at revision {state.current or 'none'}; migrations pending"
        f" ({pending}): serve or `artifact-store migrate` applies them"
    )


async def wait_until_reachable(url: str, patience: float) -> None:
    """Ping until the database answers; each failure logged, given up after `patience` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    for attempt in itertools.count(1):
        try:
            return await _ping(url, max(deadline - loop.time(), FIRST_PAUSE))
        except (CredentialsRefused, StoreMissing) as exc:
            raise failure(url, exc) from exc
        except Unavailable as exc:
            left = deadline - loop.time()
            if left <= 0:
                raise failure(url, exc, patience) from exc
            pause = min(FIRST_PAUSE * 2 ** (attempt - 1), LONGEST_PAUSE, left)
            log.warning(
                "metadata database %s unreachable (%s): attempt %d, next in %s, giving up in %s",
                *(display_url(url), cause(exc), attempt, f"{pause:.1f}s", format_duration(left)),
            )
            await asyncio.sleep(pause)


async def _ping(url: str, limit: float) -> None:
    database = Database(url)
    try:
        await asyncio.wait_for(database.ping(), limit)
    except TimeoutError:
        raise Unavailable(f"no answer within {format_duration(limit)}") from None
    finally:
        await database.close()


def failure(url: str, exc: StorageError, waited: float | None = None) -> StartupError:
    """What a storage error met on the metadata database means to the operator."""
    subject = f"metadata database {display_url(url)}"
    detail = str(exc.detail or cause(exc))
    if isinstance(exc, CredentialsRefused):
        fix = "correct the user name and password in metadata_url"
        return StartupError(subject, f"the credentials were refused ({detail})", fix, CONFIGURATION)
    if isinstance(exc, StoreMissing):
        fix = "create it (CREATE DATABASE … OWNER …), or correct its name in metadata_url"
        return StartupError(subject, f"the database does not exist ({detail})", fix, CONFIGURATION)
    if isinstance(exc, SchemaError):
        fix = "run the version that last migrated it, restore a backup, or use another database"
        return StartupError(subject, f"migrating its schema failed ({detail})", fix, ENVIRONMENT)
    return _unreachable(url, subject, cause(exc), waited)


def _unreachable(url: str, subject: str, reason: str, waited: float | None) -> StartupError:
    if sqlite_file(url) is not None:
        fix = "make its directory exist and writable (data_dir, or the path in metadata_url)"
        return StartupError(subject, f"cannot be opened ({reason})", fix, ENVIRONMENT)
    waiting = f" for {format_duration(waited)}" if waited else ""
    found = f"unreachable{waiting} ({reason})"
    fix = "start it, or correct the host and port in metadata_url"
    if waited:
        fix += " (metadata_connect_timeout sets how long start-up waits)"
    return StartupError(subject, found, fix, ENVIRONMENT)
