"""Migration 0004 (federation) goes up and down on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ledger.store.db import _alembic_config, current_revision, open_engine


def test_migration_0004_creates_and_drops_the_federation_tables(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        assert {"peers", "fork_evidence"} <= set(sa.inspect(engine).get_table_names())
        with engine.connect().execution_options(passport_write=True) as conn:
            command.downgrade(_alembic_config(conn), "0003")
            conn.commit()
        tables = set(sa.inspect(engine).get_table_names())
        assert "peers" not in tables and "fork_evidence" not in tables and "anchors" in tables
        assert current_revision(engine) == "0003"
        with engine.connect().execution_options(passport_write=True) as conn:
            command.upgrade(_alembic_config(conn), "head")
            conn.commit()
        assert {"peers", "fork_evidence"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
