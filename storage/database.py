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
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, CursorResult, Executable, Result, Table, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from storage.errors import Unavailable
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
# PostgreSQL error classes that mean "not now" rather than "wrong": connection
# exceptions, transaction rollback (deadlock, serialization), insufficient
# resources (too many connections), operator intervention (shutdown, restart).
_TRANSIENT_SQLSTATE = ("08", "40", "53", "57")


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


def display_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


async def migrate_url(url: str, data_dir: Path) -> str | None:
    """Migrate the database at `url` (SQLite's directory is created); returns the revision."""
    database = Database(url)
    if database.is_sqlite:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    try:
        return await database.migrate()
    finally:
        await database.close()


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgresql = self.url.startswith("postgresql")
        self._sqlite: SqliteConnections | None = None
        self._engine: AsyncEngine | None = None
        if self.is_sqlite:
            self._sqlite = SqliteConnections(sqlite_url(url), _sqlite_pragmas)
        else:
            self._engine = create_async_engine(self.url, **_engine_options())
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._insert_ignore: dict[str, Insert] = {}

    async def migrate(self) -> str | None:
        """Bring the schema to the newest revision; returns that revision."""
        with _unavailable_on_outage():
            if self._sqlite is not None:
                return await asyncio.to_thread(self._sqlite.run, _upgrade_and_report)
            assert self._engine is not None
            async with self._engine.begin() as conn:
                if self.is_postgresql:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                return await conn.run_sync(_upgrade_and_report)

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


def _upgrade_and_report(connection: Connection) -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeout, ConnectionError, TimeoutError, socket.gaierror) as exc:
        if not is_outage(exc):
            raise
        raise Unavailable("metadata database unavailable") from exc


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached or asks to be retried; nothing is wrong with the request."""
    unreachable = OperationalError | PoolTimeout | ConnectionError | TimeoutError | socket.gaierror
    if isinstance(exc, unreachable):
        return True
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or state[:2] in _TRANSIENT_SQLSTATE
    return False
