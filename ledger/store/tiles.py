"""The Merkle tree stored as C2SP tlog-tiles (c2sp.org/tlog-tiles), and tiles served from it.

Table ``merkle_tiles`` holds one row per tile: the hashes of nodes ``(8L, 256N + i)``, up to
256 of them, followed by the levels inside the tile (``ledger.tiles.row_length``), so every
perfect node is a slice of one row and a proof reads a few rows in one query, with no hashing.
An append writes one row per 256 leaves (and rewrites the rightmost row of each level, as it
grows) instead of two rows per leaf.  A served hash tile is a row's first hashes; an entry
bundle is the raw bytes of up to 256 records, whose leaf hashes make level 0 tile ``N``.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa

from ledger import merkle, tiles
from ledger.errors import LedgerError, RangeError
from ledger.merkle import HASH_SIZE, NodeId
from ledger.store import bulk
from ledger.store import schema as t
from ledger.tiles import Tile

FULL_TILES_KEPT = 1024  # ~8 MiB of hash tiles, or up to 16 MiB of bundles, per worker
ROWS_KEPT = 4096  # full rows for proofs, 16 KiB each: 64 MiB per worker (a 1M log has 3,907)
EDGE_NODES_KEPT = 100_000  # nodes of rows still growing, kept one by one
_IN_CHUNK = 500  # bound on parameters per IN (...) query
_T = t.merkle_tiles.c
_UPDATE = (t.merkle_tiles.update()
           .where(_T.level == sa.bindparam("b_level"), _T.idx == sa.bindparam("b_idx"))
           .values(hashes=sa.bindparam("b_hashes")))

TileKey = tuple[int, int]
"""``(tile level, tile index)``."""
RowReader = Callable[[set[TileKey]], dict[TileKey, bytes]]
"""Reads the stored rows of some tiles (``read_rows`` on a connection, or a driver cursor)."""


def read_rows(conn: sa.Connection, keys: Iterable[TileKey]) -> dict[TileKey, bytes]:
    """The stored rows of these tiles (absent keys: no row), in one query per 250 tiles."""
    wanted = sorted(set(keys))
    out: dict[TileKey, bytes] = {}
    for start in range(0, len(wanted), _IN_CHUNK // 2):
        part = wanted[start:start + _IN_CHUNK // 2]
        rows = conn.execute(_select_rows(len(part)),
                            {f"{c}{n}": v for n, key in enumerate(part)
                             for c, v in zip("li", key, strict=True)})
        out.update({(int(lv), int(i)): bytes(h) for lv, i, h in rows})
    return out


@functools.lru_cache(maxsize=64)
def _select_rows(count: int) -> sa.TextClause:
    """``count`` rows by key in one statement, built once per count (building costs more than
    running it)."""
    where = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(count))
    return sa.text(f"SELECT level, idx, hashes FROM {t.merkle_tiles.name} "  # noqa: S608
                   f"WHERE {where}")


def fetch_nodes(conn: sa.Connection, nodes: Iterable[NodeId]) -> dict[NodeId, bytes]:
    """The hashes of perfect nodes, sliced out of their rows (one query)."""
    where = {node: tiles.in_row(node) for node in set(nodes)}
    rows = read_rows(conn, {(lv, n) for lv, n, _, _ in where.values()})
    out: dict[NodeId, bytes] = {}
    for node, (level, index, r, position) in where.items():
        h = tiles.node_in_row(rows.get((level, index), b""), r, position)
        if h is None:
            raise LedgerError(f"the stored Merkle tree lacks node {node}; run an audit")
        out[node] = h
    return out


class ProofNodes:
    """The stored Merkle nodes inclusion proofs read, kept per worker (they are complete
    subtrees: never rewritten).  A full row (a tile of 256 leaves and the levels inside it)
    is kept whole, least recently used dropped, so one fetch serves every later proof of
    its 256 leaves; a node of a row still growing (the right edge) is kept on its own."""

    def __init__(self, rows_kept: int = ROWS_KEPT, nodes_kept: int = EDGE_NODES_KEPT) -> None:
        self._rows: OrderedDict[TileKey, bytes] = OrderedDict()
        self._nodes: dict[NodeId, bytes] = {}
        self._rows_kept, self._nodes_kept = rows_kept, nodes_kept
        self._lock = threading.Lock()

    def get(self, nodes: Iterable[NodeId], read: RowReader) -> dict[NodeId, bytes]:
        """The hashes of ``nodes``; the rows of those not kept are read with ``read`` (one
        query: ``read_rows`` on a connection, or the scoped read's driver cursor)."""
        out: dict[NodeId, bytes] = {}
        where: dict[NodeId, tuple[int, int, int, int]] = {}
        used: set[TileKey] = set()
        with self._lock:
            kept_nodes, kept_rows = self._nodes, self._rows
            for node in nodes:
                found = kept_nodes.get(node)
                if found is None:
                    place = tiles.in_row(node)
                    key = place[:2]
                    row = kept_rows.get(key)
                    if row is not None:
                        used.add(key)
                        found = tiles.node_in_row(row, place[2], place[3])
                    if found is None:
                        where[node] = place
                        continue
                out[node] = found
            for key in used:
                kept_rows.move_to_end(key)
        if where:
            out.update(self._keep(where, read({(lv, n) for lv, n, _, _ in where.values()})))
        return out

    def warm(self, conn: sa.Connection, size: int, batch: int = 256) -> int:
        """Keep the full rows of the tree of ``size`` before any proof asks for them: every
        row above level 0 (1/256 of the tree), then level 0's from the newest back, up to
        three quarters of what is kept (room for the rows reads bring in).  A worker that
        serves proofs would otherwise read a row for nearly every proof until its cache
        filled (on a 1M log, 3,907 rows).  Returns the rows now kept."""
        budget = self._rows_kept * 3 // 4
        wanted: list[TileKey] = []
        count, level = size, 0
        while count >= tiles.TILE_WIDTH:
            count //= tiles.TILE_WIDTH  # full rows at this level
            wanted.extend((level, n) for n in reversed(range(count)))
            level += 1
        wanted.sort(key=lambda key: -key[0])  # the upper levels first: few rows, every proof
        wanted = wanted[:budget]
        for start in range(0, len(wanted), batch):
            rows = read_rows(conn, wanted[start:start + batch])
            with self._lock:
                for key, row in rows.items():
                    if key not in self._rows and tiles.row_width(row) == tiles.TILE_WIDTH:
                        self._rows[key] = row
                        self._rows.move_to_end(key, last=False)  # reads' rows outlive these
        with self._lock:
            return len(self._rows)

    def _keep(self, where: dict[NodeId, tuple[int, int, int, int]],
              rows: dict[TileKey, bytes]) -> dict[NodeId, bytes]:
        out: dict[NodeId, bytes] = {}
        with self._lock:
            for node, (level, index, r, position) in where.items():
                row = rows.get((level, index), b"")
                found = tiles.node_in_row(row, r, position)
                if found is None:
                    raise LedgerError(f"the stored Merkle tree lacks node {node}; run an audit")
                out[node] = found
                if tiles.row_width(row) == tiles.TILE_WIDTH:
                    self._rows[(level, index)] = row
                    self._rows.move_to_end((level, index))
                else:
                    if len(self._nodes) >= self._nodes_kept:
                        self._nodes.clear()  # crude, and rare: the edge is a few nodes a level
                    self._nodes[node] = found
            while len(self._rows) > self._rows_kept:
                self._rows.popitem(last=False)
        return out


def load_frontier(conn: sa.Connection, size: int) -> list[bytes]:
    """The hashes of ``merkle.root_nodes(size)``: what an append extends."""
    nodes = merkle.root_nodes(size)
    found = fetch_nodes(conn, nodes)
    return [found[n] for n in nodes]


def write_nodes(conn: sa.Connection, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    """Store newly completed nodes (``merkle.append_leaves``'s): new rows are inserted, the
    rightmost row of a level is rewritten longer.  A row that does not end where the new
    nodes start is refused (the store was changed behind the log's back)."""
    updates = tiles.row_updates(nodes)
    existing = read_rows(conn, [key for key, added in updates.items() if added[0][1]])
    inserts: list[tuple[object, ...]] = []
    grown: list[dict[str, object]] = []
    for (level, index), added in updates.items():
        old = existing.get((level, index), b"")
        try:
            new = tiles.extend_row(old, added)
        except RangeError as e:
            raise LedgerError(f"stored tile {index} at level {level} does not end where the "
                              f"append starts ({e}); run an audit") from None
        if old:
            grown.append({"b_level": level, "b_idx": index, "b_hashes": new})
        else:
            inserts.append((level, index, new))
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
    if (tiles.row_width(row) or 0) < tile.width:
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
