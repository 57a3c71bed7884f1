"""The Merkle tree stored as C2SP tlog-tiles (c2sp.org/tlog-tiles), and tiles served from it.

Table ``merkle_tiles`` holds one row per tile: the hashes of nodes ``(8L, 256N + i)``, up to
256 of them, 32 bytes each.  Every other perfect node is the Merkle hash of a power-of-two run
of one tile's hashes (``ledger.tiles.locate``), so any proof costs a few rows.  An append
writes one row per 256 leaves (plus the rightmost tile of each level, rewritten as it grows)
instead of two rows per leaf.  A served hash tile is a row (cut to the width asked for); an
entry bundle is the raw bytes of up to 256 records, whose leaf hashes make level 0 tile ``N``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from ledger import merkle, tiles
from ledger.errors import LedgerError
from ledger.merkle import HASH_SIZE, NodeId
from ledger.store import bulk
from ledger.store import schema as t
from ledger.tiles import Tile

FULL_TILES_KEPT = 1024  # ~8 MiB of hash tiles, or up to 16 MiB of bundles, per worker
_IN_CHUNK = 500  # bound on parameters per IN (...) query
_T = t.merkle_tiles.c
_UPDATE = (t.merkle_tiles.update()
           .where(_T.level == sa.bindparam("b_level"), _T.idx == sa.bindparam("b_idx"))
           .values(hashes=sa.bindparam("b_hashes")))

TileKey = tuple[int, int]
"""``(tile level, tile index)``."""


def read_rows(conn: sa.Connection, keys: Iterable[TileKey]) -> dict[TileKey, bytes]:
    """The stored hashes of these tiles (absent keys: no row)."""
    by_level: dict[int, list[int]] = {}
    for level, index in set(keys):
        by_level.setdefault(level, []).append(index)
    out: dict[TileKey, bytes] = {}
    for level, indexes in by_level.items():
        indexes.sort()
        for start in range(0, len(indexes), _IN_CHUNK):
            rows = conn.execute(sa.select(_T.idx, _T.hashes).where(
                _T.level == level, _T.idx.in_(indexes[start:start + _IN_CHUNK])))
            out.update({(level, int(i)): bytes(h) for i, h in rows})
    return out


def fetch_nodes(conn: sa.Connection, nodes: Iterable[NodeId]) -> dict[NodeId, bytes]:
    """The hashes of perfect nodes, computed from their tiles (one query per tile level)."""
    where = {node: tiles.locate(node) for node in set(nodes)}
    rows = read_rows(conn, {(lv, n) for lv, n, _, _ in where.values()})
    out: dict[NodeId, bytes] = {}
    for node, (level, index, first, count) in where.items():
        h = tiles.node_in(rows.get((level, index), b""), first, count)
        if h is None:
            raise LedgerError(f"the stored Merkle tree lacks node {node}; run an audit")
        out[node] = h
    return out


def load_frontier(conn: sa.Connection, size: int) -> list[bytes]:
    """The hashes of ``merkle.root_nodes(size)``: what an append extends."""
    nodes = merkle.root_nodes(size)
    found = fetch_nodes(conn, nodes)
    return [found[n] for n in nodes]


def write_nodes(conn: sa.Connection, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    """Store newly completed nodes (``merkle.append_leaves``'s): new tiles are inserted, the
    rightmost tile of a level is rewritten longer.  A tile that does not end where the new
    hashes start is refused (the store was changed behind the log's back)."""
    updates = tiles.tile_updates(nodes)
    existing = read_rows(conn, [key for key, (first, _) in updates.items() if first])
    inserts: list[tuple[object, ...]] = []
    grown: list[dict[str, object]] = []
    for (level, index), (first, hashes) in updates.items():
        new = b"".join(hashes)
        if not first:
            inserts.append((level, index, new))
            continue
        old = existing.get((level, index), b"")
        if len(old) != first * HASH_SIZE:
            raise LedgerError(f"stored tile {index} at level {level} holds "
                              f"{len(old) // HASH_SIZE} hashes, not {first}; run an audit")
        grown.append({"b_level": level, "b_idx": index, "b_hashes": old + new})
    bulk.insert_rows(conn, t.merkle_tiles, ("level", "idx", "hashes"), inserts)
    if grown:
        conn.execute(_UPDATE, grown)


class TileStore:
    """Serves tiles of one ledger database, at the widths its current tree has them."""

    def __init__(self, engine: sa.Engine, kept: int = FULL_TILES_KEPT) -> None:
        self.engine = engine
        self._kept = kept
        self._full: OrderedDict[Tile, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, tile: Tile) -> bytes:
        """The tile's bytes; ``RangeError`` if the log has not grown that far yet."""
        with self._lock:
            cached = self._full.get(tile)
            if cached is not None:
                self._full.move_to_end(tile)
                return cached
        with self.engine.connect() as conn:
            size = int(conn.execute(sa.select(t.log_state.c.size)).scalar_one())
            tiles.check_in_tree(tile, size)
            data = _bundle(conn, tile) if tile.is_entries else _hashes(conn, tile)
        if tile.full:
            with self._lock:
                self._full[tile] = data
                while len(self._full) > self._kept:
                    self._full.popitem(last=False)
        return data


def _hashes(conn: sa.Connection, tile: Tile) -> bytes:
    assert tile.level is not None
    row = read_rows(conn, [(tile.level, tile.index)]).get((tile.level, tile.index), b"")
    if len(row) < tile.width * HASH_SIZE:
        raise LedgerError(f"the stored tile {tile.index} at level {tile.level} is shorter "
                          "than the log; run an audit")
    return row[:tile.width * HASH_SIZE]


def _bundle(conn: sa.Connection, tile: Tile) -> bytes:
    first = tile.index * tiles.TILE_WIDTH
    c = t.records.c
    rows = conn.execute(sa.select(c.idx, c.raw)
                        .where(c.idx >= first, c.idx < first + tile.width)
                        .order_by(c.idx)).all()
    if [int(r.idx) for r in rows] != list(range(first, first + tile.width)):
        raise LedgerError(f"the stored log lacks records of entry bundle {tile.index}; "
                          "run an audit")
    return tiles.encode_bundle(bytes(r.raw) for r in rows)
