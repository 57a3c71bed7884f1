"""Merkle nodes as tlog tiles: ``merkle_hashes`` (one row per node) becomes ``merkle_tiles``
(one row per C2SP tlog tile: the hashes of nodes ``(8L, 256N + i)``, up to 256, then the
``w >> r`` nodes of each level ``8L + r`` inside the tile, r = 1..7: ``ledger.tiles``' rows).

Upgrade copies each row's nodes out of ``merkle_hashes``; a node missing from
``merkle_hashes`` stops the migration (nothing is changed) and names the node, since a tree
with a hole cannot be tiled.  Downgrade rebuilds every node from the leaf hashes of level 0.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger import merkle, tiles  # tlog's storage index, RFC 9162, C2SP tiles: fixed formats

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HEIGHT, WIDTH = 8, 256
_CHUNK = 10_240  # leaves per step of the downgrade (40 tiles)


def _size(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT size FROM log_state WHERE id = 1")).scalar() or 0)


def upgrade() -> None:
    op.create_table(
        "merkle_tiles",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    conn = op.get_bind()
    old = sa.table("merkle_hashes", sa.column("pos", sa.BigInteger),
                   sa.column("hash", sa.LargeBinary))
    new = sa.table("merkle_tiles", sa.column("level", sa.SmallInteger),
                   sa.column("idx", sa.BigInteger), sa.column("hashes", sa.LargeBinary))
    size = _size(conn)
    level = 0
    while size >> (HEIGHT * level):
        count = size >> (HEIGHT * level)
        rows = []
        for n in range(-(-count // WIDTH)):
            width = min(WIDTH, count - WIDTH * n)
            nodes = [(HEIGHT * level + r, (WIDTH >> r) * n + i)
                     for r in range(HEIGHT) for i in range(width >> r)]
            positions = [merkle.stored_hash_index(lv, i) for lv, i in nodes]
            found = {int(p): bytes(h) for p, h in conn.execute(
                sa.select(old.c.pos, old.c.hash).where(old.c.pos.in_(positions)))}
            for node, pos in zip(nodes, positions, strict=True):
                if pos not in found:
                    raise RuntimeError(f"merkle_hashes lacks node {node} (position {pos}): "
                                       "the tree cannot be tiled; audit the ledger")
            rows.append({"level": level, "idx": n,
                         "hashes": b"".join(found[p] for p in positions)})
            if len(rows) >= 500:
                conn.execute(new.insert(), rows)
                rows = []
        if rows:
            conn.execute(new.insert(), rows)
        level += 1
    op.drop_table("merkle_hashes")


def downgrade() -> None:
    op.create_table(
        "merkle_hashes",
        sa.Column("pos", BigKey, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    conn = op.get_bind()
    old = sa.table("merkle_hashes", sa.column("pos", sa.BigInteger),
                   sa.column("hash", sa.LargeBinary))
    size = _size(conn)
    frontier: list[bytes] = []
    for start in range(0, size, _CHUNK):
        end = min(size, start + _CHUNK)
        rows = [bytes(h) for (h,) in conn.execute(sa.text(
            "SELECT hashes FROM merkle_tiles WHERE level = 0 AND idx >= :lo AND idx < :hi "
            "ORDER BY idx"), {"lo": start // WIDTH, "hi": -(-end // WIDTH)})]
        leaves = b"".join(row[:32 * (tiles.row_width(row) or 0)] for row in rows)
        first = start - (start // WIDTH) * WIDTH
        hashes = [leaves[i:i + 32] for i in range(first * 32, (first + end - start) * 32, 32)]
        frontier, nodes = merkle.append_leaves(frontier, start, hashes)
        conn.execute(old.insert(), [{"pos": merkle.stored_hash_index(lv, i), "hash": h}
                                    for lv, i, h in nodes])
    op.drop_table("merkle_tiles")
