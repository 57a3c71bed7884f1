"""Text relevance: BM25 (the ``bm25s`` library, sparse matrices) over members' granted text.

``TextIndex`` is an immutable BM25 index over one kind of text (what members can help with,
what they look for, ...) with an ``alive`` mask: a member who revoked or changed a field is
masked out at once, without a rebuild.  ``Texts`` pairs the big index with a small side index of
the members changed since it was built, so a change is searchable at once and the big index is
rebuilt only now and then (``Community.rebuild``).  Scores from the two indexes use their own
IDF statistics; rankers normalise per query, which keeps them comparable enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

WORD = re.compile(r"[a-z0-9][a-z0-9+#]*")
STOPWORDS = frozenset(STOPWORDS_EN) | {"help", "looking", "want", "need", "someone", "can",
                                       "with", "how", "what", "who", "anyone", "know"}


def tokenize(text: str) -> list[str]:
    """Lower-case words, stop words out; one-letter words only if they are digits."""
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS
            and (len(w) > 1 or w.isdigit())]


class TextIndex:
    """BM25 over one document per member; ``scores`` is 0 for masked-out members."""

    def __init__(self, docs: Sequence[tuple[str, list[str]]]) -> None:
        self.dids = [did for did, _ in docs]
        self.row = {did: i for i, did in enumerate(self.dids)}
        self.alive = np.ones(len(docs), dtype=np.float32)
        self._bm25: bm25s.BM25 | None = None
        if docs:
            self._bm25 = bm25s.BM25()
            self._bm25.index([tokens for _, tokens in docs], show_progress=False)

    def __len__(self) -> int:
        return len(self.dids)

    def kill(self, did: str) -> None:
        i = self.row.get(did)
        if i is not None:
            self.alive[i] = 0.0

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """One BM25 score per member of the index (row order), masked."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        ids = self._bm25.get_tokens_ids([t for t in tokens if t])
        if not ids:
            return np.zeros(len(self.dids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32) * self.alive


class Texts:
    """One kind of text for the whole community: a main index plus a side index of changes."""

    def __init__(self, docs: Mapping[str, list[str]]) -> None:
        self.main = TextIndex([(d, t) for d, t in docs.items() if t])
        self._pending: dict[str, list[str]] = {}
        self._side: TextIndex | None = TextIndex([])

    def put(self, did: str, tokens: list[str]) -> None:
        """A member's new text (empty: none); the main index forgets the old one at once."""
        self.main.kill(did)
        self._pending[did] = tokens
        self._side = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def side(self) -> TextIndex:
        if self._side is None:
            self._side = TextIndex([(d, t) for d, t in self._pending.items() if t])
        return self._side

    def all_scores(self, tokens: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Every member with this text and their score: main rows, then the side index."""
        side = self.side()
        if not len(side):
            return self.main.dids, self.main.scores(tokens)
        return (self.main.dids + side.dids,
                np.concatenate([self.main.scores(tokens), side.scores(tokens)]))

    def scores_for(self, tokens: Sequence[str], dids: Iterable[str]) -> np.ndarray:
        """The scores of the given members, in that order (0 for a member without text)."""
        wanted = list(dids)
        out = np.zeros(len(wanted), dtype=np.float32)
        if not wanted:
            return out
        main_scores = self.main.scores(tokens)
        side = self.side()
        side_scores = side.scores(tokens) if len(side) else main_scores[:0]
        for i, did in enumerate(wanted):
            if did in self._pending:
                j = side.row.get(did)
                out[i] = side_scores[j] if j is not None else 0.0
            else:
                j = self.main.row.get(did)
                out[i] = main_scores[j] if j is not None else 0.0
        return out
