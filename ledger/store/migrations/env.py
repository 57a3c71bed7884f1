"""Alembic environment: runs on the connection ``ledger.store.db.migrate`` hands it."""

from __future__ import annotations

from alembic import context

from ledger.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the project never runs migrations offline
    raise RuntimeError("run migrations through ledger.store.db.migrate(engine)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
