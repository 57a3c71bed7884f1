"""Who can answer a question, and which freelancer fits a mission: relevance of granted expertise
by meaning (sentence embeddings, ``matching.embed``) and by words (BM25, ``matching.text``), plus
accepted help on earlier questions or missions of similar meaning.  Weights are chosen on
``bench/communities/dev.json`` and documented in docs/protocol.md ("Matching").
"""

from __future__ import annotations

import math

import numpy as np

from matching.answers import Answer, Suggestion, norm, ranked_by, snippet, used, where_now
from matching.index import Community, offer_text
from matching.text import Texts, expand, surface_hits, tokenize

QUESTION_POOL = 60  # candidates taken by meaning and by words before the rest re-ranks them
LOAD_PENALTY = 0.35  # score / (1 + LOAD_PENALTY * recent routings), among the relevant only
RELEVANT = 0.7  # relevant: relevance at least this share of the best candidate's
HELP_AS_REL = 0.8  # accepted help on a question this close counts as relevance * this
W_LEX = 0.2  # relevance = cosine + W_LEX * BM25 / best BM25 of the query
HELP_MIN = 0.55  # a helped question this close in meaning counts (cosine)
MISSION_MIN = 0.30  # a freelancer this close in meaning (or sharing a term) is a match
ENDORSED_POOL = 500  # accepted endorsements closest in meaning that may count for a request
MISSION_POOL = 200  # candidates taken by meaning and by words before re-ranking
W_TEXT, W_HELPFUL, W_PRESENT = 0.65, 0.25, 0.10


class _Lexical:
    """BM25 of a query's (typo-corrected, expanded) terms over one kind of text, divided by
    the query's best score: 0..1 per member."""

    def __init__(self, texts: Texts, words: list[str]) -> None:
        self.texts = texts
        self.raw = np.zeros(0, dtype=np.float32)
        self.top = 0.0
        if words:
            self.raw = texts.all_scores(expand(texts.correct(words)))
            self.top = float(self.raw.max()) if self.raw.size else 0.0

    def of(self, did: str) -> float:
        i = self.texts.row_of(did) if self.top > 0 else None
        return float(self.raw[i]) / self.top if i is not None else 0.0

    def best(self, n: int) -> list[str]:
        """The n best matches (score > 0), best first."""
        if self.top <= 0:
            return []
        hit = np.flatnonzero(self.raw > 0)
        if hit.size > n:
            hit = hit[np.argpartition(-self.raw[hit], n - 1)[:n]]
        did = self.texts.did_at
        return [did(int(i)) for i in sorted(hit, key=lambda i: (-self.raw[i], did(int(i))))]


# --- who can answer a question -------------------------------------------------------------------

def _endorsed_near(c: Community, kind: str, q: np.ndarray) -> dict[str, float]:
    """Members with accepted endorsements of this kind close in meaning to ``q``: did -> the
    closest cosine (at least ``HELP_MIN``; the ``ENDORSED_POOL`` closest endorsements)."""
    vecs = c.endorsed_vecs[kind]
    if not len(vecs):
        return {}
    rows, sims = vecs.top(q, ENDORSED_POOL, HELP_MIN)
    out: dict[str, float] = {}
    for i, s in zip(rows.tolist(), sims.tolist(), strict=True):
        e = c.endorsement(vecs.dids[i])
        if e is not None:
            out[e.did] = max(out.get(e.did, 0.0), s)
    return out


def route_question(c: Community, asker: str, text: str, now_ms: int, k: int = 3) -> Answer:
    """Three members likely to answer (always three when three can be asked): relevance of
    their granted expertise and offers by meaning and words, accepted help on questions of
    similar meaning (which can also bring a member in), presence now, and, among those about
    equally relevant, less recent load first."""
    if not any(ch.isalnum() for ch in text):
        return Answer((), "the question has no words to match on")
    c.ready()
    words = tokenize(text)
    q = c.embed(text)
    rows, near = c.offer_vecs.top(q, QUESTION_POOL)
    lex = _Lexical(c.offers, words)
    helped = _endorsed_near(c, "helpful", q)
    by_meaning = {c.offer_vecs.dids[i]: s for i, s in zip(rows.tolist(), near.tolist(),
                                                           strict=True)}
    pool = (set(by_meaning) | set(lex.best(QUESTION_POOL)) | set(helped)) - {asker}
    cand = sorted(d for d in pool if d in c.profiles)
    if not cand:
        return Answer((), "nobody who shares their expertise with the matcher matches")
    rest = [d for d in cand if d not in by_meaning]
    by_meaning.update(zip(rest, c.offer_vecs.sims_for(q, rest).tolist(), strict=True))
    sem = np.asarray([by_meaning[d] for d in cand], dtype=np.float32)
    help_sem = np.asarray([helped.get(d, 0.0) for d in cand], dtype=np.float32)
    sem = np.maximum(np.maximum(sem, 0.0), HELP_AS_REL * help_sem)
    rel = sem + W_LEX * np.asarray([lex.of(d) for d in cand], dtype=np.float32)
    counted = c.endorsements["helpful"]
    qset = set(words)
    help_words = np.asarray([sum(math.log1p(n) for w, n in counted.get(d, {}).items()
                                 if w in qset) for d in cand], dtype=np.float32)
    helpful = np.maximum(norm(help_words), np.where(help_sem > 0, 0.5 + help_sem / 2, 0.0))
    present = np.asarray([1.0 if where_now(c, c.profiles[d], now_ms) else 0.0 for d in cand],
                         dtype=np.float32)
    load = np.asarray([c.load.get(d, 0.0) for d in cand], dtype=np.float32)
    base = W_TEXT * norm(rel) + W_HELPFUL * helpful + W_PRESENT * present
    relevant = rel >= RELEVANT * float(rel.max())
    score = np.where(relevant, base / (1 + LOAD_PENALTY * load), base)
    tiered = score + np.where(relevant, 10.0, 0.0)  # load never lifts the irrelevant above
    out = []
    for i in ranked_by(tiered, cand, k):
        p = c.profiles[cand[i]]
        known = surface_hits(offer_text(p), words)
        if known:
            parts = [f"knows {known}"]
        elif offer_text(p):
            parts = [f"close in meaning: \u201c{snippet(offer_text(p))}\u201d"]
        else:
            parts = ["helped with a question like this before"]
        if help_words[i] > 0 or help_sem[i] > 0:
            parts.append("answers to questions like this were marked helpful")
        if present[i]:
            parts.append("is at a space now")
        if load[i] >= 1 and relevant[i]:
            parts.append(f"asked recently ({load[i]:.0f}), ranked a bit lower")
        out.append(Suggestion(p.did, p.label, float(score[i]), "; ".join(parts),
                              used(p, "expertise", "can_help_with", "space", "name")))
    return Answer(tuple(out))


# --- missions ------------------------------------------------------------------------------------

def match_mission(c: Community, company: str, text: str, k: int = 5) -> Answer:
    """Freelancers (members who granted ``freelance``) for a company's need, by relevance
    (meaning and words) and by accepted feedback from earlier missions of similar meaning."""
    c.ready()
    words = tokenize(text)
    if not words or not len(c.mission_vecs):
        return Answer((), "no freelancer who shares their skills with the matcher matches")
    q = c.embed(text)
    rows, cos = c.mission_vecs.top(q, MISSION_POOL, MISSION_MIN)
    lex = _Lexical(c.missions, words)
    dids = c.mission_vecs.dids
    by_meaning = {dids[i]: s for i, s in zip(rows.tolist(), cos.tolist(), strict=True)}
    cand = sorted({d for d in (*by_meaning, *lex.best(MISSION_POOL))
                   if d != company and d in c.profiles and d in c.mission_vecs.row})
    if not cand:
        return Answer((), "no freelancer who shares their skills with the matcher matches")
    rest = [d for d in cand if d not in by_meaning]
    by_meaning.update(zip(rest, c.mission_vecs.sims_for(q, rest).tolist(), strict=True))
    sem = np.asarray([max(0.0, by_meaning[d]) for d in cand], dtype=np.float32)
    rel = norm(sem + W_LEX * np.asarray([lex.of(d) for d in cand], dtype=np.float32))
    near = _endorsed_near(c, "mission", q)
    fed = c.endorsements["mission"]
    qset = set(words)
    fb_words = norm(np.asarray([sum(math.log1p(n) for w, n in fed.get(d, {}).items()
                                     if w in qset) for d in cand], dtype=np.float32))
    fb = np.maximum(fb_words, np.asarray([0.5 + near[d] / 2 if d in near else 0.0
                                          for d in cand], dtype=np.float32))
    score = 0.75 * rel + 0.25 * fb
    out = []
    for j in ranked_by(score, cand, k):
        p = c.profiles[cand[j]]
        offered = surface_hits(f"{p.expertise} {p.can_help_with} {p.freelance}", words)
        why = f"offers {offered}" if offered else \
            f"close in meaning: \u201c{snippet(p.freelance)}\u201d"
        if fb[j] > 0:
            why += "; earlier missions in this area got accepted feedback"
        out.append(Suggestion(p.did, p.label, float(score[j]), why,
                              used(p, "freelance", "expertise", "can_help_with", "name")))
    return Answer(tuple(out))
