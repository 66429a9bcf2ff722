"""The metadata database: engine, migrations and transactions.

SQLite (WAL) under the data directory is the default; any SQLAlchemy async
URL works. SQLite lets one writer in at a time, so write transactions take an
in-process lock there instead of failing with 'database is locked'; its
statements run on synchronous connections in threads of their own (see
storage/sqlite.py).

PostgreSQL (asyncpg) is what several replicas share. Its pool is small and
quick to give up: a request that cannot reach the database within a few
seconds fails with Unavailable (503) instead of queueing, and pre-ping replaces
connections that died with the server, so service resumes by itself once the
database is back. Concurrent writers need no lock there: every write is an
insert-if-absent, an upsert or a delete, and transactions touch tables in one
order (repositories, blobs, aliases, links, manifests, tags) so they cannot
deadlock one another.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from prometheus_client import Counter
from sqlalchemy import (
    Connection,
    CursorResult,
    Executable,
    Result,
    Table,
    inspect,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from storage.change_count import ChangeCount
from storage.errors import CredentialsRefused, SchemaError, StoreMissing, Unavailable
from storage.progress import SILENT, Progress
from storage.sqlite import Parameters, SqliteConnections

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL pool, per process: a replica holds at most POOL_SIZE + POOL_OVERFLOW
# connections (size max_connections for replicas x 20), waits POOL_TIMEOUT seconds
# for a free one, CONNECT_TIMEOUT for a new one, COMMAND_TIMEOUT for one statement.
POOL_SIZE = 10
POOL_OVERFLOW = 10
POOL_TIMEOUT = 5
CONNECT_TIMEOUT = 5
COMMAND_TIMEOUT = 30
_DRIVERS = {"postgresql": "postgresql+asyncpg"}
# One key for pg_advisory_xact_lock: replicas starting together migrate one at a time.
MIGRATION_LOCK = 0x61727469  # "arti"
VERSION_TABLE = "alembic_version"
# PostgreSQL error classes that mean "not now" rather than "wrong": connection
# exceptions, transaction rollback (deadlock, serialization), insufficient
# resources (too many connections), operator intervention (shutdown, restart).
_TRANSIENT_SQLSTATE = ("08", "40", "53", "57")
# PostgreSQL error classes that mean "never with these settings": invalid authorization
# (wrong user or password, no pg_hba.conf entry), and an unknown database.
_REFUSED_SQLSTATE = "28"
SQLITE_FULL = 13  # "database or disk is full" (the primary result code, low 8 bits)
_MISSING_SQLSTATE = "3D"


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against the migrations this version carries."""

    current: str | None  # None: never migrated
    head: str
    pending: tuple[str, ...]  # revisions still to apply, oldest first
    known: bool  # False: migrated by a newer version (a revision this one does not carry)


ERRORS = Counter(
    "artifact_store_database_errors", "Database operations that failed for want of the database"
)


class Conn(Protocol):
    """A connection inside Database.read() or write(): statements, rows already fetched."""

    async def execute(
        self, statement: Executable, parameters: Parameters | None = None
    ) -> Result[Any]: ...


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE, DELETE or INSERT touched."""
    return result.rowcount if isinstance(result, CursorResult) else 0


def async_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{_DRIVERS.get(scheme, scheme)}{sep}{rest}"


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'metadata.db'}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and an in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def display_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


async def migrate_url(url: str, data_dir: Path, progress: Progress = SILENT) -> str | None:
    """Migrate the database at `url` (SQLite's directory is created); returns the revision."""
    database = Database(url)
    if database.is_sqlite:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    try:
        return await database.migrate(progress)
    finally:
        await database.close()


@functools.cache
def revisions() -> tuple[str, ...]:
    """The revisions this version carries, oldest first (one linear chain)."""
    return tuple(script.revision for script in reversed(list(_scripts().walk_revisions())))


def schema_state(current: str | None) -> SchemaState:
    chain = revisions()
    if current is None:
        return SchemaState(None, chain[-1], chain, True)
    if current not in chain:
        return SchemaState(current, chain[-1], (), False)
    return SchemaState(current, chain[-1], chain[chain.index(current) + 1 :], True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgresql = self.url.startswith("postgresql")
        self._sqlite: SqliteConnections | None = None
        self._engine: AsyncEngine | None = None
        # SQLite: moved after every commit, for the other processes' caches (cache_sync.py).
        self.changes: ChangeCount | None = None
        if self.is_sqlite:
            self._sqlite = SqliteConnections(sqlite_url(url), _sqlite_pragmas)
            file = sqlite_file(url)
            self.changes = ChangeCount(Path(f"{file}-changes")) if file is not None else None
        else:
            self._engine = create_async_engine(self.url, **_engine_options())
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._insert_ignore: dict[str, Insert] = {}

    async def migrate(self, progress: Progress = SILENT) -> str | None:
        """Bring the schema to the newest revision; returns that revision. A failure other
        than an outage (a file that is not a database, a revision this version does not
        carry) raises SchemaError."""
        with _schema_errors(), _unavailable_on_outage():
            if self._sqlite is not None:
                return await asyncio.to_thread(self._sqlite.run, _upgrade(progress))
            assert self._engine is not None
            async with self._engine.begin() as conn:
                if self.is_postgresql:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                return await conn.run_sync(_upgrade(progress))

    async def schema(self) -> SchemaState:
        """The schema's revision against this version's migrations, read in a read-only
        transaction: nothing is created or migrated."""
        with _schema_errors(), _unavailable_on_outage():
            if self._sqlite is not None:
                current = await asyncio.to_thread(self._sqlite.run, _current_revision)
                return schema_state(current)
            assert self._engine is not None
            async with self._engine.connect() as conn:
                if self.is_postgresql:
                    await conn.execute(text("SET TRANSACTION READ ONLY"))
                return schema_state(await conn.run_sync(_current_revision))

    async def ping(self) -> None:
        """A round trip to the database; raises Unavailable when it cannot be made."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        with _unavailable_on_outage():
            if self._sqlite is not None:
                async with self._sqlite.read() as threaded:
                    yield threaded
                return
            assert self._engine is not None
            async with self._engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        with _unavailable_on_outage():
            if self._sqlite is not None:
                async with self._locked(), self._sqlite.write() as threaded:
                    yield threaded
                if self.changes is not None:
                    self.changes.bump()  # committed
                return
            assert self._engine is not None
            async with self._engine.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    def insert_ignore(self, table: Table) -> Insert:
        """INSERT that leaves an existing row (same primary key) alone. Built once per table
        (statements are immutable), since building one costs more than running it."""
        statement = self._insert_ignore.get(table.name)
        if statement is None:
            statement = self._insert_ignore[table.name] = self._insert(
                table
            ).on_conflict_do_nothing()
        return statement

    def upsert(self, table: Table, keys: list[str], values: dict[str, Any]) -> Insert:
        stmt = self._insert(table).values(**values)
        changed = {k: v for k, v in values.items() if k not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=changed)

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        return sqlite.insert(table) if self.is_sqlite else postgresql.insert(table)

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._engine is not None:
            await self._engine.dispose()
        if self.changes is not None:
            self.changes.close()


def sqlite_url(url: str) -> str:
    """The synchronous (pysqlite) form of a SQLite URL."""
    scheme, sep, rest = url.partition("://")
    return f"sqlite{sep}{rest}" if scheme.startswith("sqlite") else url


def _engine_options() -> dict[str, Any]:
    return {
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
        "pool_timeout": POOL_TIMEOUT,  # waiting for a free connection
        "pool_pre_ping": True,  # a connection the server dropped is replaced, not used
        "pool_recycle": 1800,
        "connect_args": {
            "timeout": CONNECT_TIMEOUT,
            "command_timeout": COMMAND_TIMEOUT,
            "server_settings": {"application_name": "artifact-store"},
        },
    }


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def _upgrade(progress: Progress) -> Callable[[Connection], str | None]:
    """Upgrade to the newest revision on a connection, one progress item per revision."""

    def upgrade(connection: Connection) -> str | None:
        state = schema_state(_current_revision(connection))
        if not state.known:
            raise SchemaError(f"at revision {state.current}, which a newer version wrote")
        if not state.pending:
            return state.current  # nothing to do, and nothing for Alembic to log
        config = _alembic_config()
        config.attributes["connection"] = connection
        config.attributes["on_version_apply"] = lambda **_: progress.advance()
        progress.begin("migrations", items=len(state.pending))
        try:
            command.upgrade(config, "head")
        finally:
            progress.end()
        return _current_revision(connection)

    return upgrade


def _current_revision(connection: Connection) -> str | None:
    """The revision in Alembic's version table (read directly: Alembic's own reader logs)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


@contextlib.contextmanager
def _schema_errors() -> Iterator[None]:
    try:
        yield
    except (SQLAlchemyError, CommandError) as exc:
        raise SchemaError(str(getattr(exc, "orig", None) or exc)) from exc


@contextlib.contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeout, ConnectionError, TimeoutError, socket.gaierror) as exc:
        if _disk_full(exc):  # SQLite on a full disk: an exhausted resource, not an outage
            raise OSError(errno.ENOSPC, "no space left on device for the metadata") from exc
        refusal = _refusal(exc)
        if refusal is not None:
            raise refusal from exc
        if not is_outage(exc):
            raise
        ERRORS.inc()
        raise Unavailable("metadata database unavailable") from exc


def _disk_full(exc: BaseException) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == SQLITE_FULL


def _refusal(exc: BaseException) -> Unavailable | None:
    """The database turned this connection away for good: credentials or database name."""
    state = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    message = str(getattr(exc, "orig", exc))
    if state.startswith(_REFUSED_SQLSTATE):
        return CredentialsRefused(message)
    if state.startswith(_MISSING_SQLSTATE):
        return StoreMissing(message)
    return None


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached or asks to be retried; nothing is wrong with the request."""
    unreachable = OperationalError | PoolTimeout | ConnectionError | TimeoutError | socket.gaierror
    if isinstance(exc, unreachable):
        return True
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or state[:2] in _TRANSIENT_SQLSTATE
    return False
