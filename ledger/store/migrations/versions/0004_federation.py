"""Federation: the peers a node follows, and evidence of logs that forked.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("log_key", sa.LargeBinary(32), nullable=True),
        sa.Column("origin", sa.Text, nullable=True),
        sa.Column("pulled", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.Text, nullable=False),
        sa.Column("head_note", sa.LargeBinary, nullable=True),
        sa.Column("erasures_ms", sa.BigInteger, nullable=False),
        sa.Column("refused", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "fork_evidence",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("log_key", sa.LargeBinary(32), nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("note_a", sa.LargeBinary, nullable=False),
        sa.Column("note_b", sa.LargeBinary, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reported_by", sa.Text, nullable=False),
        sa.Column("detected_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("note_a", "note_b", name="uq_fork_evidence_notes"),
    )


def downgrade() -> None:
    op.drop_table("fork_evidence")
    op.drop_table("peers")
