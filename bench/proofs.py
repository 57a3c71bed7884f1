"""Proof timings for ``bench.ledger``: random inclusion and consistency proofs, fetched from
the stored ledger (server side) and verified against the roots (client side)."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger import merkle
from ledger.store.ledger import Ledger

PROOF_SAMPLES = 1000


@dataclass
class Timing:
    median_ms: float
    p99_ms: float

    @classmethod
    def of(cls, ns: Sequence[int]) -> Timing:
        ms = sorted(x / 1e6 for x in ns)
        return cls(statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))])


@dataclass
class Proof:
    fetch: Timing
    verify: Timing
    total: Timing
    hashes: float  # mean proof length



def proofs(url: str, n: int, seed: int = 7) -> tuple[Proof, Proof]:
    """Random inclusion (index, size) and consistency (m, n) proofs: fetch, then verify."""
    rng = random.Random(seed)
    ledger = Ledger.open(url, create=False, verify_workers=0)
    try:
        incl = [(rng.randrange(size), size) for size in
                (rng.randint(1, n) for _ in range(PROOF_SAMPLES))]
        cons = [(rng.randint(1, new - 1), new) for new in
                (rng.randint(2, n) for _ in range(PROOF_SAMPLES))]
        roots = {s: ledger.root(s) for s in {s for _, s in incl} | {s for p in cons for s in p}}
        leaves = {i: merkle.leaf_hash(ledger.record_at(i).raw) for i, _ in incl}

        def inclusion(pair: tuple[int, int]) -> tuple[list[bytes], Callable[[], None]]:
            index, size = pair
            proof = ledger.inclusion_proof(index, size)
            return proof, lambda: merkle.verify_inclusion(leaves[index], index, size, proof,
                                                          roots[size])

        def consistency(pair: tuple[int, int]) -> tuple[list[bytes], Callable[[], None]]:
            old, new = pair
            proof = ledger.consistency_proof(old, new)
            return proof, lambda: merkle.verify_consistency(old, new, proof, roots[old],
                                                            roots[new])

        return _time_proofs(incl, inclusion), _time_proofs(cons, consistency)
    finally:
        ledger.close()


def _time_proofs(pairs: Sequence[tuple[int, int]],
                 fetch: Callable[[tuple[int, int]], tuple[list[bytes], Callable[[], None]]],
                 ) -> Proof:
    fetch_ns: list[int] = []
    verify_ns: list[int] = []
    lengths: list[int] = []
    for pair in pairs:
        t0 = time.perf_counter_ns()
        proof, check = fetch(pair)
        t1 = time.perf_counter_ns()
        check()
        t2 = time.perf_counter_ns()
        fetch_ns.append(t1 - t0)
        verify_ns.append(t2 - t1)
        lengths.append(len(proof))
    total = [a + b for a, b in zip(fetch_ns, verify_ns, strict=True)]
    return Proof(Timing.of(fetch_ns), Timing.of(verify_ns), Timing.of(total),
                 statistics.fmean(lengths))
