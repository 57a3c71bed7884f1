"""The read side's connections: blobs fetched in one query, in the order asked; reads on
PostgreSQL in autocommit, and a pool that outlives the server dropping its connections; the
same for the scoped read's statements on the driver's cursor (``hotpath``)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from ledger.errors import BlobError, NotFoundError
from ledger.store import DatabaseError
from ledger.store.blobs import digest_of
from ledger.store.hotpath import HotPath
from ledger.store.ledger import Ledger
from tests.store.support import member, set_update


def test_blobs_come_back_in_the_order_asked_with_repeats(ledger: Ledger) -> None:
    stored: dict[str, bytes] = {}
    for value in ("one", "two"):
        raw, blobs = set_update(member(), "today", value)
        ledger.append(raw, blobs)
        stored.update(blobs)
    names = list(stored)
    wanted = [names[1], names[0], names[1]]
    got = ledger.blobs(wanted)
    with ledger.reading() as conn:  # the scoped read's way: over its one connection
        assert ledger.blobs(wanted, conn) == got
    assert got == [stored[n] for n in wanted]
    assert ledger.blobs([]) == []


def test_a_missing_blob_is_named(ledger: Ledger) -> None:
    raw, blobs = set_update(member())
    ledger.append(raw, blobs)
    (present,) = blobs
    absent = "sha256:" + "0" * 64
    with pytest.raises(NotFoundError, match=absent):
        ledger.blobs([present, absent])


def test_an_erased_blob_is_refused_not_served(ledger: Ledger) -> None:
    raw, blobs = set_update(member())
    ledger.append(raw, blobs)
    (name,) = blobs
    with ledger.engine.begin() as conn:  # as an author's erasure leaves it
        conn.execute(sa.text("UPDATE blobs SET data = NULL"))
    with pytest.raises(BlobError, match="erased"):
        ledger.blobs([name])


# PostgreSQL only (SQLite keeps a read transaction: it gives the read one snapshot, and has no
# server to drop connections): the db_url fixture narrowed to its PostgreSQL parameter.
ON_POSTGRES = pytest.mark.parametrize("db_url", [pytest.param("postgres",
                                                              marks=pytest.mark.postgres)],
                                      indirect=True)


@ON_POSTGRES
def test_reads_on_postgres_run_outside_a_transaction(ledger: Ledger) -> None:
    assert ledger.engine.dialect.name == "postgresql"
    with ledger.reading() as conn:
        ledger.read_marks(member().did, conn)
        driver = conn.connection.dbapi_connection
        assert driver.autocommit  # type: ignore[union-attr]
        # no BEGIN was sent: the server sees the session idle, not idle in a transaction
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # type: ignore[union-attr]


@ON_POSTGRES
def test_the_pool_recovers_when_the_server_drops_every_connection(ledger: Ledger) -> None:
    assert ledger.engine.dialect.name == "postgresql"
    author = member()
    raw, blobs = set_update(author)
    ledger.append(raw, blobs)
    assert ledger.read_marks(author.did)[1] == 1
    admin = sa.create_engine(ledger.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # what a server restart does to the pooled connections
            dropped = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    finally:
        admin.dispose()
    assert dropped and dropped >= 1
    for _ in range(3):  # checked at checkout (db._drop_dead_on_checkout): each replaced
        assert ledger.read_marks(author.did)[1] == 1
        assert ledger.keys_in_force(author.did)


def test_the_hot_path_reads_marks_keys_and_blobs_in_one_snapshot(ledger: Ledger) -> None:
    """What the scoped read asks on the driver's cursor: the log size, the member's seq, the
    signer's keys (its did key while it has no chain), and values by digest (None: erased)."""
    author, signer = member(), member()
    raw, blobs = set_update(author)
    ledger.append(raw, blobs)
    (name,) = blobs
    hot = HotPath(ledger.engine)
    with hot.reading() as (conn, cur):
        size, seq, in_force = hot.marks_and_keys(conn, cur, author.did, signer.did)
        found = hot.blobs(conn, cur, [digest_of(name), b"\0" * 32])
    assert (size, seq) == (1, 1)
    assert in_force == [bytes(signer.signing_key.verify_key)]
    assert found == {digest_of(name): blobs[name]}
    with hot.reading() as (conn, cur):  # the author's own chain names its key
        assert hot.marks_and_keys(conn, cur, signer.did, author.did)[1:] == (
            0, [bytes(author.signing_key.verify_key)])


def test_a_driver_error_on_the_hot_path_is_a_database_error(ledger: Ledger) -> None:
    """The HTTP layer answers ``store-error`` for SQLAlchemy's DBAPIError: the driver's own
    exceptions must come out as one, never as a bare sqlite3 or psycopg error (a 500)."""
    hot = HotPath(ledger.engine)
    with pytest.raises(DatabaseError), hot.reading() as (conn, cur):
        hot.run(conn, cur, "SELECT no_such_column FROM log_state")


@ON_POSTGRES
def test_hot_reads_on_postgres_run_outside_a_transaction_and_survive_a_restart(
        ledger: Ledger) -> None:
    author = member()
    raw, blobs = set_update(author)
    ledger.append(raw, blobs)
    hot = HotPath(ledger.engine)
    with hot.reading() as (conn, cur):
        hot.marks_and_keys(conn, cur, author.did, author.did)
        driver = conn.connection.dbapi_connection
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # type: ignore[union-attr]
    admin = sa.create_engine(ledger.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        admin.dispose()
    for _ in range(3):  # replaced at checkout, or the statement run again (hotpath)
        with hot.reading() as (conn, cur):
            assert hot.marks_and_keys(conn, cur, author.did, author.did)[:2] == (1, 1)
