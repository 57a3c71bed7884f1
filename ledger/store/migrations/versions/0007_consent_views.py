"""Consent views kept for cold reads: per member, the consent records a scoped read folded,
at the chain seq it read them, with the node's MAC over them (``ledger.store.view_states``).
A cache: empty after the upgrade, filled by reads; the downgrade drops it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_views",
        sa.Column("author", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("head", sa.Text, nullable=False),
        sa.Column("records", sa.LargeBinary, nullable=False),
        sa.Column("mac", sa.LargeBinary(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent_views")
