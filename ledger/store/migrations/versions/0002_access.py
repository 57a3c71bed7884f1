"""The node's access state: request nonces, check-in challenges, access receipts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("keyid", sa.Text, primary_key=True),
        sa.Column("nonce", sa.Text, primary_key=True),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_request_nonces_expires_ms", "request_nonces", ["expires_ms"])
    op.create_table(
        "challenges",
        sa.Column("nonce_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("space", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("used_rid", sa.LargeBinary(32), nullable=True),
    )
    op.create_table(
        "receipts",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("member", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("served_ms", sa.BigInteger, nullable=False),
        sa.Column("receipt", sa.LargeBinary, nullable=False),
        sa.Column("node_sig", sa.LargeBinary(64), nullable=False),
    )
    op.create_index("ix_receipts_member", "receipts", ["member"])


def downgrade() -> None:
    op.drop_table("receipts")
    op.drop_table("challenges")
    op.drop_index("ix_request_nonces_expires_ms", "request_nonces")
    op.drop_table("request_nonces")
