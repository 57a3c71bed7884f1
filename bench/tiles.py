"""Merkle storage as tiles beside one row per node: ``python -m bench.tiles [--leaves 100000]``.

In one run, on two fresh SQLite files (WAL, synchronous=FULL, as the node), the same leaf
hashes are appended in batches the way ``write_records`` stores them: as ``merkle_tiles`` rows
(``ledger.store.tiles.write_nodes``) and, for reference, as the former ``merkle_hashes`` layout
(one row per perfect node, at its tlog position).  Then the same random inclusion proofs are
read back from each (a fresh connection per proof, no cache).  Prints the medians of several
rounds, their ratios and each file's size.  See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from ledger import merkle
from ledger.store import bulk, tiles
from ledger.store.db import open_engine

OLD = sa.Table("merkle_hashes", sa.MetaData(),
               sa.Column("pos", sa.Integer, primary_key=True, autoincrement=False),
               sa.Column("hash", sa.LargeBinary, nullable=False))


def _old_write(conn: sa.Connection, nodes: list[tuple[int, int, bytes]]) -> None:
    bulk.insert_rows(conn, OLD, ("pos", "hash"),
                     [(merkle.stored_hash_index(lv, i), h) for lv, i, h in nodes])


def _old_read(conn: sa.Connection, nodes: set[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
    where = {merkle.stored_hash_index(*n): n for n in nodes}
    rows = conn.execute(sa.select(OLD.c.pos, OLD.c.hash).where(OLD.c.pos.in_(list(where))))
    return {where[int(p)]: bytes(h) for p, h in rows}


def one_round(leaves: list[bytes], batch: int, proofs: int, old: bool) -> tuple[float, float, int]:
    """(append seconds, seconds per proof, file bytes) for one layout on a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.sqlite"
        engine = open_engine(str(path))
        if old:
            OLD.create(engine)
        write, read = (_old_write, _old_read) if old else (tiles.write_nodes, tiles.fetch_nodes)
        frontier: list[bytes] = []
        start = time.perf_counter()
        for at in range(0, len(leaves), batch):
            frontier, nodes = merkle.append_leaves(frontier, at, leaves[at:at + batch])
            with engine.connect().execution_options(passport_write=True) as conn, conn.begin():
                write(conn, nodes)
        appended = time.perf_counter() - start
        rng = random.Random(7)
        size = len(leaves)
        start = time.perf_counter()
        for _ in range(proofs):
            index = rng.randrange(size)
            groups = merkle.inclusion_proof_nodes(index, size)
            with engine.connect() as conn:
                found = read(conn, merkle.needed_nodes(groups))
            merkle.assemble(groups, found)
        per_proof = (time.perf_counter() - start) / proofs
        engine.dispose()
        return appended, per_proof, path.stat().st_size


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.tiles", description=__doc__)
    p.add_argument("--leaves", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--proofs", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(a.leaves)]
    runs: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    for _ in range(a.rounds):  # interleaved, so both layouts see the same machine load
        for old in (True, False):
            runs[old].append(one_round(leaves, a.batch, a.proofs, old))
    med = {old: [statistics.median(r[k] for r in rs) for k in range(3)]
           for old, rs in runs.items()}
    (old_app, old_proof, old_size), (new_app, new_proof, new_size) = med[True], med[False]
    print(f"{a.leaves:,} leaves, batches of {a.batch}, {a.proofs} proofs, median of {a.rounds}")
    print(f"  append  rows per node {a.leaves / old_app:>10,.0f} leaves/s   tiles "
          f"{a.leaves / new_app:>10,.0f} leaves/s   tiles/rows = {old_app / new_app:.2f}x")
    print(f"  proof   rows per node {old_proof * 1e3:>10.3f} ms         tiles "
          f"{new_proof * 1e3:>10.3f} ms         tiles/rows = {new_proof / old_proof:.2f}x time")
    print(f"  file    rows per node {old_size / 1e6:>10.1f} MB         tiles "
          f"{new_size / 1e6:>10.1f} MB")


if __name__ == "__main__":
    main()
