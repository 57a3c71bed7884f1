"""Anchoring on Ethereum: the contract per chain, anchors (pending and confirmed), leases.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "anchor_contracts",
        sa.Column("chain_id", sa.BigInteger, primary_key=True),
        sa.Column("address", sa.Text, primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("retired_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "anchors",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("chain_id", sa.BigInteger, nullable=False),
        sa.Column("contract", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("log_id", sa.LargeBinary(32), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("raw_tx", sa.LargeBinary, nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=True),
        sa.Column("block_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_anchors_status", "anchors", ["status"])
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_anchors_status", "anchors")
    op.drop_table("anchors")
    op.drop_table("anchor_contracts")
