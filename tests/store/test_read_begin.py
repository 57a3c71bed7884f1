"""A SQLite read transaction's ``BEGIN`` goes to the driver itself (``db.begin_deferred``),
not through SQLAlchemy's statement machinery, and still gives the read one snapshot; a
``BEGIN`` the driver refuses is raised as SQLAlchemy's error, like any statement's."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.store.db import open_engine
from tests.store.support import sql_seen


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    e = open_engine(str(tmp_path / "r.sqlite"))
    with e.connect() as conn, conn.begin():
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield e
    e.dispose()


def test_a_read_begins_on_the_driver_and_keeps_one_snapshot(engine: sa.Engine,
                                                             tmp_path: Path) -> None:
    writer = sqlite3.connect(tmp_path / "r.sqlite", isolation_level=None)
    with sql_seen(engine, lambda statement: "BEGIN" in statement.upper()) as seen, \
            engine.connect() as conn, conn.begin():
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None and dbapi.in_transaction
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 0
        writer.execute("INSERT INTO t VALUES (1)")  # committed by another connection
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 0
    assert seen == []
    with engine.connect() as conn, conn.begin():
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
    writer.close()


def test_a_begin_the_driver_refuses_is_sqlalchemys_error(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute("BEGIN")
        with pytest.raises(sa.exc.OperationalError, match="within a transaction"):
            conn.begin()
