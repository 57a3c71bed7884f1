"""Shared fixtures.  Every database test runs on the embedded SQLite file and on PostgreSQL.

PostgreSQL comes from PASSPORT_TEST_PG_URL (default: the local server, database test).  The
tests get a database of their own, created here and emptied before each test.  With CI=true an
unreachable server fails the run; elsewhere its tests are skipped with the reason.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # tests import ``ledger`` etc. even when not installed
    sys.path.insert(0, ROOT)

from ledger.store.db import normalise_url  # noqa: E402

PG_URL = os.environ.get("PASSPORT_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    admin_url = sa.make_url(normalise_url(PG_URL))
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"passport_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as e:
        admin.dispose()
        message = f"PostgreSQL at {admin_url.render_as_string()} is unreachable: {e.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)  # reason: no server on this developer machine; CI fails instead
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def empty_pg(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def fresh_db(kind: str, request: pytest.FixtureRequest, where: Path,
             sqlite_name: str = "node.sqlite") -> str:
    """The database of a test parametrised ``sqlite``/``postgres`` (``kind``): a new SQLite
    file in ``where``, or the session's PostgreSQL database, emptied."""
    if kind == "sqlite":
        return str(where / sqlite_name)
    url: str = request.getfixturevalue("pg_database")
    empty_pg(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_db(request.param, request, tmp_path, "ledger.sqlite")


