"""SQLite connections for the embedded default, each served by a thread of its own.

Through aiosqlite a statement goes to the driver's thread and back several
times (cursor, execute, fetch, close), with a greenlet switch in SQLAlchemy's
async layer around each; a small blob push makes about a dozen statements, and
those round trips were most of its CPU time. Here a statement is one round
trip: it runs on a synchronous SQLAlchemy connection (pysqlite) in that
connection's thread and comes back with its rows already fetched.

One connection writes; Database serializes writers before they get here. A
few more read at the same time, which WAL allows. Readers run in autocommit,
like the driver's default for a SELECT outside a write: no snapshot is held
between statements. Each connection's thread runs its work in order, so a
statement left running by a cancelled request finishes before the next one
starts on that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Result,
    create_engine,
    event,
)
from sqlalchemy.pool import NullPool

T = TypeVar("T")
Parameters = Mapping[str, Any] | Sequence[Mapping[str, Any]]
READERS = 4


class ThreadedConnection:
    """A synchronous connection whose statements run in its own thread."""

    def __init__(self, connection: Connection, thread: ThreadPoolExecutor) -> None:
        self.connection = connection
        self._thread = thread

    @classmethod
    async def open(cls, engine: Engine, **options: Any) -> ThreadedConnection:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        connection = await loop.run_in_executor(thread, engine.connect)
        if options:
            connection = connection.execution_options(**options)
        return cls(connection, thread)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def execute(
        self, statement: Executable, parameters: Parameters | None = None
    ) -> Result[Any]:
        return await self.call(self._execute, statement, parameters)

    def _execute(self, statement: Executable, parameters: Parameters | None) -> Result[Any]:
        result = self.connection.execute(statement, parameters)
        # Rows are fetched here, in this thread; a statement without rows keeps its rowcount.
        return result.freeze()() if result.returns_rows else result

    async def close(self) -> None:
        await self.call(self.connection.close)
        self._thread.shutdown(wait=True)


class SqliteConnections:
    def __init__(self, url: str, on_connect: Callable[[Any, Any], None]) -> None:
        self.engine = create_engine(
            url, poolclass=NullPool, connect_args={"timeout": 30, "check_same_thread": False}
        )
        event.listen(self.engine, "connect", on_connect)
        self._writer: ThreadedConnection | None = None
        self._idle: list[ThreadedConnection] = []
        self._all: list[ThreadedConnection] = []
        self._free = asyncio.Semaphore(READERS)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[ThreadedConnection]:
        async with self._free:
            if self._idle:
                conn = self._idle.pop()
            else:
                conn = await ThreadedConnection.open(self.engine, isolation_level="AUTOCOMMIT")
                self._all.append(conn)
            try:
                yield conn
            finally:
                self._idle.append(conn)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[ThreadedConnection]:
        """A transaction on the one writing connection; the caller holds the write lock."""
        if self._writer is None:
            self._writer = await ThreadedConnection.open(self.engine)
            self._all.append(self._writer)
        # The first statement begins the transaction (SQLAlchemy's autobegin); commit and
        # rollback queue behind any statement still running.
        conn = self._writer
        try:
            yield conn
        except BaseException:
            await conn.call(conn.connection.rollback)
            raise
        await conn.call(conn.connection.commit)

    def run(self, fn: Callable[[Connection], T]) -> T:
        """`fn` in a transaction on a connection of its own, in the calling thread."""
        with self.engine.begin() as connection:
            return fn(connection)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()
        self._all.clear()
        self._idle.clear()
        self._writer = None
        self.engine.dispose()
