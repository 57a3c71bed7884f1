"""A SQLite read transaction's ``BEGIN`` goes to the driver itself (``db.begin_deferred``),
not through SQLAlchemy's statement machinery, and still gives the read one snapshot; a
``BEGIN`` the driver refuses is raised as SQLAlchemy's error, like any statement's."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.store.db import SQLITE_MMAP_BYTES, open_engine
from passport_api.app import open_ledger
from passport_api.settings import NodeSettings
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


def test_a_serving_node_maps_nothing_and_a_batch_job_maps_the_file(tmp_path: Path) -> None:
    """``mapped=False`` (the node's ``open_ledger``): no memory map, since every commit would
    make each reading connection map the file again (``db.SQLITE_MMAP_BYTES``)."""
    def mmap_size(engine: sa.Engine) -> int:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA mmap_size").scalar_one())

    batch = open_engine(str(tmp_path / "b.sqlite"))
    served = open_engine(str(tmp_path / "s.sqlite"), mapped=False)
    node = open_ledger(NodeSettings(home=tmp_path / "home", db=str(tmp_path / "n.sqlite")))
    try:
        assert mmap_size(batch) == SQLITE_MMAP_BYTES > 0
        assert mmap_size(served) == 0 and mmap_size(node.engine) == 0
    finally:
        node.close()
        batch.dispose()
        served.dispose()
