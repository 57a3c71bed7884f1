"""A SQLite writer that finds the write lock taken tries again at least every millisecond
(``ledger.store.db.begin_immediate``), instead of SQLite's busy handler, which sleeps up to
100 ms between tries.  The pauses are recorded through the injected ``sleep``, never timed."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.store import db
from ledger.store.db import SQLITE_BUSY_TIMEOUT_MS, WRITER_PAUSES_S, begin_immediate, writing


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "w.sqlite"
    with sqlite3.connect(p) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE t (x INTEGER)")
    return p


@pytest.fixture
def engine(path: Path) -> Iterator[sa.Engine]:
    """A plain engine whose driver leaves BEGIN to us, as the node's does."""
    e = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)

    @sa.event.listens_for(e, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    yield e
    e.dispose()


def _holder(path: Path) -> sqlite3.Connection:
    """Another process's writer, mid-transaction: it holds the write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    return other


def _busy_timeout(conn: sa.Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())


def test_a_waiting_writer_tries_again_after_short_pauses_and_gets_the_lock(
        engine: sa.Engine, path: Path) -> None:
    other = _holder(path)
    pauses: list[float] = []

    def sleep(s: float) -> None:
        pauses.append(s)
        if len(pauses) == 7:
            other.execute("COMMIT")  # the other writer commits while we wait

    with engine.connect() as conn:
        begin_immediate(conn, sleep=sleep)
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        conn.exec_driver_sql("COMMIT")
        assert _busy_timeout(conn) == SQLITE_BUSY_TIMEOUT_MS  # restored for everything else
    other.close()
    assert len(pauses) == 7  # tried after each pause, got in at the first try after COMMIT
    assert max(pauses) <= 0.001 and pauses[:len(WRITER_PAUSES_S)] == list(WRITER_PAUSES_S)
    with sqlite3.connect(path) as c:
        assert sorted(r[0] for r in c.execute("SELECT x FROM t")) == [1, 2]


def test_a_writer_that_waits_too_long_hears_database_is_locked(
        engine: sa.Engine, path: Path) -> None:
    other = _holder(path)
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with engine.connect() as conn:
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            begin_immediate(conn, timeout_s=0.05, sleep=sleep, clock=lambda: now[0])
        assert _busy_timeout(conn) == SQLITE_BUSY_TIMEOUT_MS
    other.execute("ROLLBACK")
    other.close()
    assert 0.05 <= now[0] < 0.052  # it waited out the whole time, a millisecond at a time


def test_an_error_other_than_busy_is_raised_at_once(engine: sa.Engine) -> None:
    slept: list[float] = []
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN")  # a transaction already open: not a lock wait
        with pytest.raises(sa.exc.OperationalError, match="within a transaction"):
            begin_immediate(conn, sleep=slept.append)
        conn.exec_driver_sql("ROLLBACK")
    assert slept == []


def test_node_writes_wait_for_each_other_through_it(tmp_path: Path) -> None:
    """Through the store's own ``writing``: a write that meets a held lock retries (many
    BEGIN IMMEDIATE statements, where SQLite's handler would send one) and then commits."""
    engine = db.open_engine(f"sqlite:///{tmp_path / 'n.sqlite'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        other = _holder(tmp_path / "n.sqlite")
        begins: list[str] = []
        started = threading.Event()

        def trace(sql: str) -> None:
            if sql == "BEGIN IMMEDIATE":
                begins.append(sql)
                if len(begins) == 3:
                    started.set()

        def write() -> None:
            with writing(engine) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")

        engine.dispose()  # every connection from here on is a new one, traced

        @sa.event.listens_for(engine, "connect")
        def _traced(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.set_trace_callback(trace)

        writer = threading.Thread(target=write)
        writer.start()
        assert started.wait(30)
        other.execute("COMMIT")
        other.close()
        writer.join(30)
        assert not writer.is_alive()
        with engine.connect() as conn:
            assert sorted(r[0] for r in conn.exec_driver_sql("SELECT x FROM t")) == [1, 2]
    finally:
        engine.dispose()
