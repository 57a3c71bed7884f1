"""PostgreSQL connections lost under the read path: no ping at checkout (the round trips a
scoped read sends are counted at the protocol level, with libpq's own trace), the dropped
ones replaced at checkout for free, a read statement that finds its connection lost run
again on a fresh one, and a write's never."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from ledger.store import DatabaseError
from ledger.store.blobs import digest_of
from ledger.store.hotpath import HotPath
from ledger.store.ledger import Ledger
from tests.store.support import member, set_update

pytestmark = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def _terminate(url: sa.URL, pid: int | None = None) -> int:
    """What a server restart (or an administrator) does to the node's connections: every
    backend of the database but the caller's, or the one ``pid``, each waited for until it
    has exited (the server has then written its goodbye and closed the socket)."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            which = "pid = :pid" if pid else "pid <> pg_backend_pid()"
            return int(conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                f"WHERE datname = current_database() AND {which}"), {"pid": pid}).scalar_one())
    finally:
        admin.dispose()


@pytest.fixture
def traced(ledger: Ledger, tmp_path: Path) -> Iterator[Path]:
    """A libpq protocol trace of every connection the ledger's pool opens from now on."""
    trace = tmp_path / "libpq.trace"
    files: list[Any] = []

    @sa.event.listens_for(ledger.engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        out = trace.open("a")
        files.append(out)
        dbapi_conn.pgconn.trace(out.fileno())
        dbapi_conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    ledger.engine.dispose()  # the pooled connections reopen, traced
    yield trace
    ledger.engine.dispose()
    for out in files:
        out.close()


def _round_trips(trace: Path, since: int) -> int:
    """Messages after byte ``since`` of the trace that each wait for the server's answer: a
    simple query, or a ``Sync`` closing an extended-protocol statement."""
    text = trace.read_text()[since:]
    return sum(1 for line in text.splitlines()
               if line.startswith("F\t") and line.split("\t")[2] in ("Query", "Sync"))


def test_a_warm_scoped_read_makes_two_round_trips(ledger: Ledger, traced: Path) -> None:
    """The read marks with the signer's keys, then the values: no ``SELECT 1`` at checkout."""
    author = member()
    raw, blobs = set_update(author)
    ledger.append(raw, blobs)
    (name,) = blobs
    hot = HotPath(ledger.engine)
    for _ in range(2):  # the first on a fresh connection, the second on the same one, pooled
        since = traced.stat().st_size if traced.exists() else 0
        with hot.reading() as (conn, cur):
            hot.marks_and_keys(conn, cur, author.did, author.did)
            assert hot.blobs(conn, cur, [digest_of(name)]) == {digest_of(name): blobs[name]}
        assert _round_trips(traced, since) == 2


def test_pooled_connections_the_server_dropped_are_replaced_at_checkout(ledger: Ledger
                                                                        ) -> None:
    """Every path (SQLAlchemy Core reads, the group commit's writes) gets a live connection
    after a restart, without a ping."""
    author = member()
    raw, blobs = set_update(author)
    ledger.append(raw, blobs)
    with ledger.engine.connect() as a, ledger.engine.connect() as b:  # two pooled, idle
        pids = {a.exec_driver_sql("SELECT pg_backend_pid()").scalar(),
                b.exec_driver_sql("SELECT pg_backend_pid()").scalar()}
    assert _terminate(ledger.engine.url) >= 2
    for _ in range(3):
        assert ledger.read_marks(author.did)[1] == 1
        with ledger.engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() not in pids


def test_a_hot_read_that_finds_its_connection_lost_runs_again(ledger: Ledger) -> None:
    """Lost after checkout (the check at checkout saw nothing yet): the statement runs once
    more on a fresh connection, still in autocommit, and the read's next statement uses it."""
    author = member()
    raw, blobs = set_update(author)
    ledger.append(raw, blobs)
    (name,) = blobs
    hot = HotPath(ledger.engine)
    with hot.reading() as (conn, cur):
        first = cur.driver.connection.info.backend_pid
        assert _terminate(ledger.engine.url, first) == 1
        assert hot.marks_and_keys(conn, cur, author.did, author.did)[:2] == (1, 1)
        assert hot.blobs(conn, cur, [digest_of(name)]) == {digest_of(name): blobs[name]}
        driver = conn.connection.dbapi_connection
        assert driver.info.backend_pid != first  # type: ignore[union-attr]
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # type: ignore[union-attr]
        assert cur.driver.connection is driver
        # once per read: a second loss is answered as a store error
        assert _terminate(ledger.engine.url, driver.info.backend_pid) == 1
        with pytest.raises(DatabaseError) as lost:
            hot.marks_and_keys(conn, cur, author.did, author.did)
        assert lost.value.connection_invalidated


def test_a_write_that_finds_its_connection_lost_is_not_run_again(ledger: Ledger) -> None:
    """The transaction died with its connection: running the rest of it on a fresh one would
    commit half of it.  It fails as a store error, and nothing of it is stored."""
    hot = HotPath(ledger.engine)
    with pytest.raises(DatabaseError) as lost, hot.writing() as (conn, cur):
        hot.spend(conn, cur, [("key-a", "nonce-a", 1)])
        assert _terminate(ledger.engine.url, cur.driver.connection.info.backend_pid) == 1
        hot.spend(conn, cur, [("key-b", "nonce-b", 1)])
    assert lost.value.connection_invalidated
    with ledger.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM request_nonces").scalar() == 0
