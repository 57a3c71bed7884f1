"""Tiles (c2sp.org/tlog-tiles) read from the stored log: hash tiles and entry bundles.

A hash tile's hashes are stored Merkle nodes ``(8L, 256N + i)``, read by their tlog storage
positions in one query; an entry bundle is the raw bytes of up to 256 records, the very bytes
whose leaf hashes make level 0 tile ``N``.  Full tiles never change, so a worker keeps the most
recently asked ones; partial tiles are read each time (they are small and short-lived).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import sqlalchemy as sa

from ledger import merkle, tiles
from ledger.errors import LedgerError
from ledger.store import append as ap
from ledger.store import schema as t
from ledger.tiles import Tile

FULL_TILES_KEPT = 1024  # ~8 MiB of hash tiles, or up to 16 MiB of bundles, per worker


class TileStore:
    """Reads tiles from one ledger database, at the widths its current tree has them."""

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
    positions = [merkle.stored_hash_index(level, index) for level, index in tile.nodes()]
    found = ap.fetch_hashes(conn, set(positions))
    return b"".join(found[p] for p in positions)


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
