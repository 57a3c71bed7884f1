"""Bulk writes at the driver level: the append path's hot loop, without per-row Core work.

SQLAlchemy Core's executemany processes every bound value in Python; for the tens of thousands
of rows a second the log writes, plain tuples handed to the driver cost a fraction of that.
Table and column names come from ``schema``, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _mark(conn: sa.Connection) -> str:
    return _PLACEHOLDER[conn.dialect.paramstyle]


def insert_rows(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
                rows: Sequence[tuple[object, ...]], *, skip_existing: bool = False) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) into ``table`` in one executemany;
    ``skip_existing`` leaves a row whose key is already stored as it is (SQLite and
    PostgreSQL both say ``ON CONFLICT DO NOTHING``)."""
    if rows:
        marks = ", ".join([_mark(conn)] * len(columns))
        skip = " ON CONFLICT DO NOTHING" if skip_existing else ""
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
                             f"VALUES ({marks}){skip}", list(rows))


def update_rows(conn: sa.Connection, table: sa.Table, columns: Sequence[str], key: str,
                rows: Sequence[tuple[object, ...]]) -> None:
    """UPDATE ``table`` SET ``columns`` WHERE ``key`` matches; ``key``'s value ends each row."""
    if rows:
        mark = _mark(conn)
        sets = ", ".join(f"{c} = {mark}" for c in columns)
        conn.exec_driver_sql(f"UPDATE {table.name} SET {sets} WHERE {key} = {mark}",  # noqa: S608
                             list(rows))


def select_in(conn: sa.Connection, table: sa.Table, columns: Sequence[str], key: str,
              values: Sequence[object], *, chunk: int = 500) -> list[tuple[Any, ...]]:
    """Rows of ``columns`` whose ``key`` is one of ``values``, in chunks of ``chunk``."""
    out: list[tuple[Any, ...]] = []
    mark = _mark(conn)
    for start in range(0, len(values), chunk):
        part = values[start:start + chunk]
        sql = (f"SELECT {', '.join(columns)} FROM {table.name} "  # noqa: S608
               f"WHERE {key} IN ({', '.join([mark] * len(part))})")
        out.extend(tuple(row) for row in conn.exec_driver_sql(sql, tuple(part)))
    return out
