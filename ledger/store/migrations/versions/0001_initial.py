"""The first schema: records, the Merkle log, chains, tree heads, blobs, equivocations.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("idx", BigKey, primary_key=True, autoincrement=False),
        sa.Column("rid", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("author", "seq", name="uq_records_author_seq"),
    )
    op.create_table(
        "merkle_hashes",
        sa.Column("pos", BigKey, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "chains",
        sa.Column("author", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("head", sa.LargeBinary(32), nullable=False),
        sa.Column("key_history", sa.Text, nullable=True),
    )
    op.create_table(
        "tree_heads",
        sa.Column("size", BigKey, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("erased_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "equivocations",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("existing_rid", sa.LargeBinary(32), nullable=False),
        sa.Column("conflicting_rid", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("conflicting_raw", sa.LargeBinary, nullable=False),
        sa.Column("detected_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("equivocations", "blobs", "tree_heads", "chains", "merkle_hashes",
                  "records", "log_state"):
        op.drop_table(table)
