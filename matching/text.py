"""Text relevance: BM25 (the ``bm25s`` library, sparse matrices) over members' granted text.

Words become terms the way people's words should meet: lower case, accents folded, English,
French and Dutch stop words out (the lists ``bm25s`` ships, plus the words every question has),
each word reduced to the shortest of its English, French and Dutch Snowball stems (PyStemmer),
and a concept term ``=name`` added for every alias of ``matching.aliases`` (k8s, Kubernetes).
A query word the index has never seen is read as the closest indexed term within one or two
edits (``rapidfuzz``), which forgives typos.

``TextIndex`` is an immutable BM25 index over one kind of text (what members can help with,
what they look for, ...) with an ``alive`` mask: a member who revoked or changed a field is
masked out at once, without a rebuild.  ``Texts`` pairs the big index with a small side index of
the members changed since it was built, so a change is searchable at once and the big index is
rebuilt only now and then (``Community.rebuild``).  Scores from the two indexes use their own
IDF statistics; rankers normalise per query, which keeps them comparable enough.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN, STOPWORDS_FRENCH
from rapidfuzz import process
from rapidfuzz.distance import OSA

from matching.aliases import RELATED, surface_map

WORD = re.compile(r"[^\W_][^\W_+#]*")
QUESTION_WORDS = (
    "help helping helps looking look want wants need needs someone somebody can could anyone "
    "anybody know knows who what how which where why please thanks good best way ways get make "
    "use using find work working stuff thing things really just like also lot lots keep my me i "
    "our we you your mine am im i'm ive getting got any some "
    "aide aider besoin cherche cherchons chercher quelqu quelqu'un qui comment quoi faire trouver "
    "peut peux veux voudrais merci bien très tres truc choses "
    "hulp helpen zoek zoeken nodig iemand wie hoe wat kan kun kunnen wil willen graag bedankt "
    "goed beste manier vinden doen echt gewoon ook")
STOPWORDS = frozenset(STOPWORDS_EN) | frozenset(STOPWORDS_FRENCH) | frozenset(STOPWORDS_DUTCH) \
    | frozenset(QUESTION_WORDS.split())
STEMMERS = tuple(Stemmer.Stemmer(lang) for lang in ("english", "french", "dutch"))
ALIASES = surface_map()
LONGEST_ALIAS = max(len(k) for k in ALIASES)


def fold(text: str) -> str:
    """Lower case without accents: é -> e, ë -> e."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The shortest Snowball stem of the three languages (a word's language is unknown)."""
    return fold(min((s.stemWord(word) for s in STEMMERS), key=len))


def words(text: str) -> list[str]:
    """The words of a text, lower case, accents kept (the stemmers want them)."""
    return WORD.findall(text.lower())


def tokenize(text: str) -> list[str]:
    """Terms: stems of the words that carry meaning, plus the alias concepts they name."""
    ws = words(text)
    out: list[str] = []
    for i, w in enumerate(ws):
        for n in range(min(LONGEST_ALIAS, len(ws) - i), 0, -1):
            concept = ALIASES.get(tuple(ws[i:i + n]))
            if concept is not None:
                out.append(concept)
                break
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit()):
            continue
        folded = fold(w)
        if folded in STOPWORDS:
            continue
        term = stem(w)
        concept = alias_stems().get(term)
        if concept is not None and (not out or out[-1] != concept):
            out.append(concept)
        out.append(term)
    return out


@lru_cache(maxsize=1)
def alias_stems() -> dict[str, str]:
    """One-word aliases by their stem, so plurals and inflections name the concept too."""
    return {st: v for k, v in ALIASES.items()
            if len(k) == 1 and len(st := stem(k[0])) >= 4 and k[0] not in STOPWORDS}


def expand(terms: Sequence[str]) -> list[str]:
    """A query's terms plus the concepts related to its concepts (``=invoice`` brings
    ``=accounting``); for queries only, so profiles keep their own words."""
    out = list(terms)
    for t in terms:
        if t.startswith("="):
            out.extend(f"={r}" for r in RELATED.get(t[1:], ()) if f"={r}" not in out)
    return out


def surface_hits(text: str, terms: Iterable[str], n: int = 3) -> str:
    """The words of ``text`` (as written) whose terms are among ``terms``, for explanations."""
    wanted = set(terms)
    found: dict[str, None] = {}
    for w in words(text):
        if len(found) >= n:
            break
        if w not in STOPWORDS and word_terms(w) & wanted:
            found[w] = None
    return ", ".join(found)


@lru_cache(maxsize=100_000)
def word_terms(word: str) -> frozenset[str]:
    """The terms of one word (explanations ask for the same words again and again)."""
    return frozenset(tokenize(word))


def correct(tokens: Sequence[str], vocab: Mapping[str, int]) -> list[str]:
    """Each term the index does not know, replaced by the closest known one within one edit
    (two for words of nine letters or more; a swap of two letters is one edit), and given the
    concept of the closest alias (``bookeeper`` -> ``=accounting``); concepts and short words
    are kept as they are."""
    out = []
    for t in tokens:
        if t in vocab or t.startswith("=") or len(t) < 4:
            out.append(t)
            continue
        limit = 1 if len(t) < 9 else 2
        best = process.extractOne(t, vocab.keys(), scorer=OSA.distance,
                                  score_cutoff=limit) if vocab else None
        out.append(best[0] if best is not None else t)
        alias = process.extractOne(t, alias_stems().keys(), scorer=OSA.distance,
                                   score_cutoff=limit)
        if alias is not None:
            concept = alias_stems()[alias[0]]
            if concept not in tokens and concept not in out:
                out.append(concept)
    return out


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

    @property
    def vocab(self) -> Mapping[str, int]:
        return self._bm25.vocab_dict if self._bm25 is not None else {}

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
        self.docs = {d: tuple(t) for d, t in docs.items() if t}  # what is indexed now
        self.main = TextIndex([(d, t) for d, t in docs.items() if t])
        self._pending: dict[str, list[str]] = {}
        self._side: TextIndex | None = TextIndex([])
        self._vocab: dict[str, int] | None = None  # both indexes' terms, for typo correction

    def put(self, did: str, tokens: list[str]) -> None:
        """A member's new text (empty: none); the main index forgets the old one at once."""
        self.main.kill(did)
        self._pending[did] = tokens
        self._vocab = None
        if tokens:
            self.docs[did] = tuple(tokens)
        else:
            self.docs.pop(did, None)
        self._side = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def correct(self, tokens: Sequence[str]) -> list[str]:
        """The query's terms with typos read as the closest terms of either index."""
        side = self.side()
        if not len(side):
            return correct(tokens, self.main.vocab)
        if self._vocab is None:
            self._vocab = {**self.main.vocab, **side.vocab}
        return correct(tokens, self._vocab)

    def row_of(self, did: str) -> int | None:
        """The member's position in ``all_scores`` (None: no text)."""
        if did in self._pending:
            j = self.side().row.get(did)
            return None if j is None else len(self.main) + j
        return self.main.row.get(did)

    def side(self) -> TextIndex:
        if self._side is None:
            self._side = TextIndex([(d, t) for d, t in self._pending.items() if t])
        return self._side

    def all_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """A score per member with this text: main rows, then the side index (``did_at``
        names a row; no list of every member is built per query)."""
        side = self.side()
        if not len(side):
            return self.main.scores(tokens)
        return np.concatenate([self.main.scores(tokens), side.scores(tokens)])

    def did_at(self, i: int) -> str:
        """The member of row ``i`` of ``all_scores``."""
        n = len(self.main)
        return self.main.dids[i] if i < n else self.side().dids[i - n]

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
