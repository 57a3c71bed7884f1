"""Inclusion proofs from the nodes a worker keeps (``tiles.ProofNodes``): whole rows of full
tiles, single nodes of the rows still growing.  The proofs must be the tree's at every size
while the log grows under the kept rows, and one fetch of a full row must serve every leaf
under it.  SQLite and PostgreSQL.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from ledger.store import tiles
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
