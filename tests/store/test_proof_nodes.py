"""Inclusion proofs from the nodes a worker keeps (``tiles.ProofNodes``): whole rows of full
tiles, single nodes of the rows still growing.  The proofs must be the tree's at every size
while the log grows under the kept rows, and one fetch of a full row must serve every leaf
under it.  SQLite and PostgreSQL.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from ledger.store import tiles
from ledger.store.hotpath import HotPath
from ledger.store.ledger import Ledger
from tests.store.support import sql_seen
from tests.store.test_tiles_store import grow, reference


def tile_queries(ledger: Ledger) -> AbstractContextManager[list[str]]:
    """The statements that read ``merkle_tiles`` while the block runs."""
    return sql_seen(ledger.engine, lambda statement: "merkle_tiles" in statement)


def test_kept_rows_give_the_trees_proofs_while_the_log_grows(ledger: Ledger) -> None:
    raws = grow(ledger, [300, 513, 700])
    # evicting at every fetch, and keeping everything; both kept across the appends
    kept = [tiles.ProofNodes(rows_kept=1, nodes_kept=3), tiles.ProofNodes()]
    for more in (0, 330, 270):  # row 2 (512-767) fills, row 3 starts, level 1 grows
        raws += grow(ledger, [more]) if more else []
        tree = reference(raws)
        for nodes in kept:
            ledger._proof_nodes = nodes
            for size in (300, 513, 700, 1030, 1300):
                if size <= len(raws):
                    leaves = [*range(0, size, 37), 255, 256, size - 1]
                    leaves = [i for i in leaves if i < size]
                    assert ledger.inclusion_proofs(leaves, size) == [
                        tree.inclusion_proof(i, size) for i in leaves]


def test_one_fetch_of_a_full_row_serves_every_leaf_under_it(ledger: Ledger) -> None:
    raws = grow(ledger, [700])
    tree = reference(raws)
    with tile_queries(ledger) as seen:
        assert ledger.inclusion_proofs([3], 700) == [tree.inclusion_proof(3, 700)]
        assert len(seen) == 1
        # leaves 0-255 are row (0, 0), full: their level 0-7 nodes come from it, the
        # nodes above from the first proof
        assert ledger.inclusion_proofs([200, 17, 255], 700) == [
            tree.inclusion_proof(i, 700) for i in (200, 17, 255)]
        assert len(seen) == 1
        # a leaf of the partial row 2 (512-699) is fetched, then kept as single nodes
        assert ledger.inclusion_proofs([600], 700) == [tree.inclusion_proof(600, 700)]
        assert ledger.inclusion_proofs([600], 700) == [tree.inclusion_proof(600, 700)]
        assert len(seen) == 2


def recording(ledger: Ledger, asked: list[tuple[int, int]]) -> tiles.RowReader:
    """A row reader that notes the rows a proof misses, then reads them."""
    def read(keys: set[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
        asked.extend(sorted(keys))
        with ledger.engine.connect() as conn:
            return tiles.read_rows(conn, keys)
    return read


def test_warming_keeps_the_full_rows_so_proofs_miss_only_the_edge(ledger: Ledger) -> None:
    raws = grow(ledger, [600, 1300])  # level 0: rows 0-4 full, row 5 partial
    tree = reference(raws)
    leaves = [0, 255, 256, 700, 1023, 1279]  # all under full rows
    cold: list[tuple[int, int]] = []
    ledger._proof_nodes = tiles.ProofNodes()
    assert ledger.inclusion_proofs(leaves, 1300, read=recording(ledger, cold)) == [
        tree.inclusion_proof(i, 1300) for i in leaves]
    assert {(0, n) for n in range(5)} <= set(cold)  # without warming: every row read
    ledger._proof_nodes = tiles.ProofNodes()
    assert ledger.warm_proofs() == 5
    warm: list[tuple[int, int]] = []
    assert ledger.inclusion_proofs(leaves, 1300, read=recording(ledger, warm)) == [
        tree.inclusion_proof(i, 1300) for i in leaves]
    assert [key for key in warm if key[0] == 0 and key[1] < 5] == []  # only the growing rows


def test_warming_takes_the_newest_rows_within_three_quarters_of_the_budget(
        ledger: Ledger) -> None:
    raws = grow(ledger, [1300])
    tree = reference(raws)
    ledger._proof_nodes = nodes = tiles.ProofNodes(rows_kept=4)
    assert ledger.warm_proofs() == 3
    asked: list[tuple[int, int]] = []
    read = recording(ledger, asked)
    assert ledger.inclusion_proofs([1279, 1000, 600], 1300, read=read) == [
        tree.inclusion_proof(i, 1300) for i in (1279, 1000, 600)]
    assert [key for key in asked if key[0] == 0 and key[1] < 5] == []  # rows 4, 3, 2 kept
    asked.clear()
    assert ledger.inclusion_proofs([5], 1300, read=read) == [tree.inclusion_proof(5, 1300)]
    assert (0, 0) in asked  # row 0 was not: the budget was spent on newer rows
    assert nodes.warm(ledger.engine.connect(), 1300) == 4  # never beyond what is kept


def test_a_scoped_reads_proof_misses_go_to_its_driver_cursor(ledger: Ledger) -> None:
    raws = grow(ledger, [700])
    hot = HotPath(ledger.engine)
    keys = {(0, 0), (0, 1), (0, 2), (1, 0), (0, 9)}  # (0, 9): no such row
    with ledger.engine.connect() as conn:
        expected = tiles.read_rows(conn, keys)
    with tile_queries(ledger) as seen, hot.reading() as (conn, cur):
        assert hot.tile_rows(conn, cur, keys) == expected
        proofs = ledger.inclusion_proofs(
            [3, 600], 700, read=lambda wanted: hot.tile_rows(conn, cur, wanted))
    assert seen == []  # not through SQLAlchemy
    tree = reference(raws)
    assert proofs == [tree.inclusion_proof(i, 700) for i in (3, 600)]
