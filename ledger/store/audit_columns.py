"""The audit's first pass: every stored value of the type and size its column says.

PostgreSQL enforces types but not the length of a bytea; SQLite enforces neither (any column
takes any value).  The audit's other checks would trip over such a value, so they run only
once this pass found none (``ledger.store.audit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from ledger.store import schema as t

# Tables the audit does not read: harmless by construction (tests/faults/test_tamper.py says why).
UNAUDITED = frozenset({"request_nonces", "leases", "anchor_contracts", "anchors", "peers",
                       "consent_views"})


def bad_storage(conn: sa.Connection, problem: Callable[[str, str], None],
                limit: int = 100) -> bool:
    """Name (through ``problem(check, message)``) every value whose storage type or byte
    length is not its column's, up to ``limit`` rows a table; whether there was any.  One
    index-free scan per table."""
    found = False
    for table in t.metadata.sorted_tables:
        if table.name in UNAUDITED:
            continue
        bad = [(c.name, e) for c in table.columns if (e := _bad_value(c, conn)) is not None]
        if not bad:
            continue  # e.g. merkle_tiles on PostgreSQL: no column with a fixed size
        key = list(table.primary_key.columns)
        rows = conn.execute(
            sa.select(*key, *(e.label(f"bad_{n}") for n, e in bad))
            .where(sa.or_(*(e for _, e in bad))).limit(limit)).all()
        for row in rows:
            where = ", ".join(f"{c.name} {_shown(row._mapping[c.name])}" for c in key)
            for name, _ in bad:
                if row._mapping[f"bad_{name}"]:
                    found = True
                    problem("column-type", f"{table.name} ({where}): column {name} holds a "
                                           "value of another type or size than the column's")
    return found


def _bad_value(column: sa.Column[Any], conn: sa.Connection) -> sa.ColumnElement[bool] | None:
    """True for a value that is not of the column's type (SQLite) or size (binary keys)."""
    sqlite = conn.dialect.name == "sqlite"
    kind = column.type
    checks: list[sa.ColumnElement[bool]] = []
    if sqlite:
        expected = ("blob" if isinstance(kind, sa.LargeBinary) else
                    "integer" if isinstance(kind, sa.Integer) else "text")
        allowed = [expected, "null"] if column.nullable else [expected]
        checks.append(sa.func.typeof(column).not_in(allowed))
    length = getattr(kind, "length", None)
    if isinstance(kind, sa.LargeBinary) and length:
        size = sa.func.length(column) if sqlite else sa.func.octet_length(column)
        checks.append(sa.and_(column.is_not(None), size != length))
    return sa.or_(*checks) if checks else None


def _shown(value: object) -> str:
    return bytes(value).hex() if isinstance(value, bytes | memoryview) else repr(value)
