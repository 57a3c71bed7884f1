"""The Merkle tree stored as tiles (merkle_tiles, migration 0006), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command

from ledger import keys, merkle, tiles
from ledger.chain import Author
from ledger.errors import LedgerError, RangeError
from ledger.parallel import Verifier
from ledger.store import schema as t
from ledger.store.audit import audit
from ledger.store.db import _alembic_config, current_revision, head_revision
from ledger.store.ledger import Ledger
from ledger.store.tiles import TileStore, write_nodes
from ledger.tiles import Tile

SIZE = 700  # level 0 tiles 0, 1 full, 2 partial (188); level 1 partial (2)


def grow(ledger: Ledger, sizes: list[int]) -> list[bytes]:
    """Append in batches ending at ``sizes`` (so tiles are extended across batches)."""
    authors = [Author(keys.generate()) for _ in range(5)]
    raws: list[bytes] = []
    for size in sizes:
        batch = [authors[i % 5].next("passport.clear", {"field": "email"}).raw
                 for i in range(len(raws), size)]
        ledger.append_batch(batch)
        raws += batch
    return raws


def reference(raws: list[bytes]) -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for raw in raws:
        tree.append(raw)
    return tree


def rows(ledger: Ledger) -> dict[tuple[int, int], bytes]:
    with ledger.engine.connect() as conn:
        return {(int(lv), int(i)): bytes(h) for lv, i, h in conn.execute(
            sa.select(t.merkle_tiles.c.level, t.merkle_tiles.c.idx, t.merkle_tiles.c.hashes))}


def migrate(engine: sa.Engine, to: str, *, down: bool = False) -> None:
    with engine.connect().execution_options(passport_write=True) as conn:
        (command.downgrade if down else command.upgrade)(_alembic_config(conn), to)
        conn.commit()


def test_tiles_hold_the_tree_and_proofs_match(ledger: Ledger) -> None:
    raws = grow(ledger, [1, 2, 255, 256, 257, 300, 511, 513, SIZE])
    tree = reference(raws)
    stored = rows(ledger)
    assert sorted(stored) == [(0, 0), (0, 1), (0, 2), (1, 0)]  # one row per tile
    for tile in tiles.tiles_of(SIZE):  # each row: the tile, then the levels inside it
        assert tile.level is not None
        row = stored[(tile.level, tile.index)]
        assert row[:32 * tile.width] == b"".join(tree.node(n) for n in tile.nodes())
        assert row == b"".join(tree.node((8 * tile.level + r, (256 >> r) * tile.index + p))
                               for r in range(8) for p in range(tile.width >> r))
    for size in (1, 256, 257, 513, SIZE):
        assert ledger.root(size) == tree.root(size)
        for index in (0, size // 3, size - 1):
            assert ledger.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
        assert ledger.consistency_proof(max(1, size // 2), SIZE) == \
            tree.consistency_proof(max(1, size // 2), SIZE)
    assert ledger.inclusion_proofs([3, 600], 650) == [tree.inclusion_proof(3, 650),
                                                      tree.inclusion_proof(600, 650)]
    served = TileStore(ledger.engine)
    assert served.read(Tile(0, 2, 188)) == stored[(0, 2)][:188 * 32]
    assert served.read(Tile(0, 2, 5)) == stored[(0, 2)][:160]
    assert served.read(Tile(1, 0, 2)) == stored[(1, 0)][:64]
    assert tiles.decode_bundle(served.read(Tile(None, 1))) == raws[256:512]
    with pytest.raises(RangeError):
        served.read(Tile(0, 2, 189))
    with pytest.raises(RangeError):
        served.read(Tile(None, 3, 1))
    assert audit(ledger.engine, verifier=Verifier(0)).ok


def test_a_tile_that_does_not_end_where_the_append_starts_is_refused(ledger: Ledger) -> None:
    grow(ledger, [10])
    with ledger.engine.begin() as conn, pytest.raises(LedgerError, match="does not end where"):
        write_nodes(conn, [(0, 11, b"\1" * 32)])


def test_a_longer_or_shorter_tile_is_named_by_the_audit(ledger: Ledger) -> None:
    grow(ledger, [300])
    level1 = (t.merkle_tiles.c.level == 1) & (t.merkle_tiles.c.idx == 0)
    with ledger.engine.begin() as conn:
        row = conn.execute(sa.select(t.merkle_tiles.c.hashes).where(level1)).scalar_one()
        conn.execute(t.merkle_tiles.update().where(level1).values(hashes=row + b"\0" * 32))
    report = audit(ledger.engine, verifier=Verifier(0))
    assert {p.check for p in report.problems} == {"merkle"}  # its length, and node (8, 0)
    assert any("tile 0 at level 1 is 64 bytes; the log's size gives it 32" in str(p)
               for p in report.problems)
    with ledger.engine.begin() as conn:
        conn.execute(t.merkle_tiles.delete().where(level1))
    report = audit(ledger.engine, verifier=Verifier(0))
    assert ("merkle", 255) in {(p.check, p.index) for p in report.problems}
    with pytest.raises(LedgerError, match="lacks node"):
        ledger.inclusion_proof(290, 300)  # its path holds node (8, 0): tile (1, 0)


def test_migration_0006_moves_nodes_to_tiles_and_back(open_ledger: Callable[..., Ledger]
                                                      ) -> None:
    ledger = open_ledger()
    raws = grow(ledger, [100, SIZE])
    tiled = rows(ledger)
    migrate(ledger.engine, "0005", down=True)
    names = sa.inspect(ledger.engine).get_table_names()
    assert "merkle_tiles" not in names and "merkle_hashes" in names
    tree = reference(raws)
    with ledger.engine.connect() as conn:
        stored = [bytes(h) for (h,) in conn.execute(
            sa.text("SELECT hash FROM merkle_hashes ORDER BY pos"))]
    assert stored == tree.hashes  # every node, at its tlog position
    migrate(ledger.engine, "head")
    assert current_revision(ledger.engine) == head_revision()
    assert rows(ledger) == tiled
    reopened = open_ledger()
    assert reopened.inclusion_proof(650, SIZE) == tree.inclusion_proof(650, SIZE)
    assert audit(reopened.engine, verifier=Verifier(0)).ok


def test_migration_0006_refuses_a_tree_with_a_hole(ledger: Ledger) -> None:
    grow(ledger, [40])
    migrate(ledger.engine, "0005", down=True)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM merkle_hashes WHERE pos = :p"),
                     {"p": merkle.stored_hash_index(0, 7)})
    with pytest.raises(RuntimeError, match=r"lacks node \(0, 7\)"):
        migrate(ledger.engine, "head")
    assert current_revision(ledger.engine) == "0005"
    assert "merkle_tiles" not in sa.inspect(ledger.engine).get_table_names()
