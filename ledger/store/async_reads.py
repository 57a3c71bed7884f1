"""Asynchronous PostgreSQL connections for the read path's statements, for reads awaited on
the event loop (``passport_api.reads_async``).

Each worker holds a few connections open for its life and lends their psycopg
``AsyncConnection`` to one read at a time: no pool checkout, reset or greenlet bridge per
read (through SQLAlchemy's async engine those cost more CPU than the thread hop they save,
docs/benchmarks.md, issue 18).  The statements and their rows are ``HotPath``'s.  A failure
of any kind comes out as one ``StoreError``, and the connection that failed is closed and
replaced on its next use: the caller answers from the threaded path instead, which retries a
lost connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ledger.errors import StoreError

CONNECTIONS = 8  # per worker: a read holds one only while its statements are out


class AsyncCursor:
    """One read's statements on one autocommit connection (each its own snapshot)."""

    __slots__ = ("_cur",)

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    async def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        await self._cur.execute(sql, params)
        return list(await self._cur.fetchall())


class _Held:
    __slots__ = ("conn", "driver")

    def __init__(self) -> None:
        self.conn: AsyncConnection | None = None
        self.driver: Any = None


class AsyncReader:
    """A worker's held asynchronous connections to the ledger's PostgreSQL database."""

    def __init__(self, engine: sa.Engine, connections: int = CONNECTIONS) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("asynchronous reads are for PostgreSQL")
        self._engine: AsyncEngine = create_async_engine(
            engine.url, pool_size=connections, max_overflow=0)
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error  # psycopg's
        self._size = connections
        self._idle: asyncio.Queue[_Held] | None = None  # made in the event loop

    async def close(self) -> None:
        if self._idle is not None:
            while not self._idle.empty():
                await self._drop(self._idle.get_nowait())
        await self._engine.dispose()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncCursor]:
        """A cursor for one read; ``StoreError`` if the database failed it."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self._size):
                self._idle.put_nowait(_Held())
        held = await self._idle.get()
        try:
            if held.conn is None:
                held.conn = await self._engine.connect()
                await held.conn.execution_options(isolation_level="AUTOCOMMIT")
                held.driver = (await held.conn.get_raw_connection()).driver_connection
            async with held.driver.cursor() as cur:
                yield AsyncCursor(cur)
        except (self._error, sa.exc.SQLAlchemyError, OSError) as e:
            await self._drop(held)
            raise StoreError(f"an asynchronous read failed: {type(e).__name__}") from e
        finally:
            self._idle.put_nowait(held)

    async def _drop(self, held: _Held) -> None:
        """Close a held connection (it is opened again on its next use)."""
        conn, held.conn, held.driver = held.conn, None, None
        if conn is not None:
            try:
                await conn.invalidate()
                await conn.close()
            except (self._error, sa.exc.SQLAlchemyError, OSError):
                pass  # already gone: nothing to close
