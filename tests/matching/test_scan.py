"""``matching.embed.best_rows``: the rows of the largest estimates, as a full partition would
give them, whatever the sizes (the sampled threshold is only a shortcut)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.embed import best_rows


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 60_000), keep=st.integers(1, 4_000), seed=st.integers(0, 2**32 - 1),
       spread=st.sampled_from(["normal", "skewed", "few-high"]))
def test_best_rows_are_the_largest(rows: int, keep: int, seed: int, spread: str) -> None:
    rng = np.random.default_rng(seed)
    est = rng.permutation(rows).astype(np.float32) / rows  # distinct values: one right answer
    if spread == "skewed":
        est = est ** 8
    elif spread == "few-high":
        est[rng.choice(rows, min(rows, 5), replace=False)] += 10.0
    got = best_rows(est, keep)
    want = np.argsort(-est, kind="stable")[:keep]
    assert sorted(got.tolist()) == sorted(want.tolist())
