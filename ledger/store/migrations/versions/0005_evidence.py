"""Evidence: erasure orders, and a hash chain over node-made evidence with a signed head.

Rows written before this migration are chained here in their tables' key order (receipts,
equivocations, forks; values already erased get an ``erasures`` row without an order, so the
audit can tell them from a later, unauthorised erasure).  The head is signed by the node the
first time it opens the database with its log key.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.store import evidence  # the chaining rule is the store's, not a frozen copy

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("request", sa.LargeBinary, nullable=True),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("n", BigKey, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("link", sa.LargeBinary(32), nullable=False),
        sa.UniqueConstraint("kind", "ref", name="uq_evidence_kind_ref"),
    )
    op.create_table(
        "evidence_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("link", sa.LargeBinary(32), nullable=False),
        sa.Column("sig", sa.LargeBinary(64), nullable=False),
    )
    conn = op.get_bind()
    conn.execute(sa.text("INSERT INTO erasures (digest, author, request, received_ms) "
                         "SELECT digest, author, NULL, erased_ms FROM blobs "
                         "WHERE data IS NULL AND erased_ms IS NOT NULL"))
    evidence.chain_existing(conn)


def downgrade() -> None:
    op.drop_table("evidence_head")
    op.drop_table("evidence")
    op.drop_table("erasures")
