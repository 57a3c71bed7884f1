"""The rankers: pure functions of a ``Community`` (granted fields only), a member and the time.

Relevance is meaning and words together: the cosine of sentence embeddings (``matching.embed``)
plus a BM25 term score normalised per query (``matching.text``: stop words out, stems, aliases,
typos forgiven).  Each answer names, per suggestion, why in one line and which granted fields it
used.  Ties are broken by id, so an answer depends only on the community, not on the order it was
built in.  Weights are constants here, chosen on the hand-written development community of
``bench/communities/dev.json`` and documented in docs/protocol.md ("Matching").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matching.embed import Vectors
from matching.index import (
    Community,
    Content,
    need_text,
    need_tokens,
    offer_text,
    offer_tokens,
)
from matching.model import Profile, Space, Trip, norm_date, norm_place
from matching.text import Texts, expand, surface_hits, tokenize

MINUTE_MS = 60_000
STAY_FULL_OVERLAP_MS = 3 * 3_600_000  # three hours together or more counts fully
SAME_SPACE, SAME_CITY = 1.0, 0.5
QUESTION_POOL = 60  # candidates taken by meaning and by words before the rest re-ranks them
LOAD_PENALTY = 0.35  # score / (1 + LOAD_PENALTY * recent routings), among the relevant only
RELEVANT = 0.7  # relevant: relevance at least this share of the best candidate's
HELP_AS_REL = 0.8  # accepted help on a question this close counts as relevance * this
W_LEX = 0.2  # relevance = cosine + W_LEX * BM25 / best BM25 of the query
HELP_MIN = 0.55  # a helped question this close in meaning counts (cosine)
MISSION_MIN = 0.30  # a freelancer this close in meaning (or sharing a term) is a match
ENDORSED_POOL = 500  # accepted endorsements closest in meaning that may count for a request
MISSION_POOL = 200  # candidates taken by meaning and by words before re-ranking
SEM_LOW, SEM_HIGH = 0.10, 0.50  # cosine mapped to 0..1 between these for people and spaces

W_NEED, W_OFFER, W_PLACE, W_STAY, W_NEW = 0.40, 0.25, 0.12, 0.13, 0.10
W_TEXT, W_HELPFUL, W_PRESENT = 0.65, 0.25, 0.10


@dataclass(frozen=True, slots=True)
class Suggestion:
    did: str
    label: str
    score: float
    why: str
    fields_used: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, object]:
        return {"did": self.did, "name": self.label, "score": round(self.score, 4),
                "why": self.why, "fields_used": list(self.fields_used), **self.extra}


@dataclass(frozen=True, slots=True)
class Answer:
    suggestions: tuple[Suggestion, ...]
    note: str = ""  # why the answer is empty or partial, for people

    def json(self) -> dict[str, object]:
        return {"suggestions": [s.json() for s in self.suggestions], "note": self.note}


def _norm(x: np.ndarray) -> np.ndarray:
    top = float(x.max()) if x.size else 0.0
    return x / top if top > 0 else x


def _used(p: Profile, *names: str) -> tuple[str, ...]:
    return tuple(n for n in names if n in p.fields)


def _hhmm(ms: int) -> str:
    return f"{(ms // 3_600_000) % 24:02d}:{(ms // MINUTE_MS) % 60:02d}"


def _common(a: Sequence[str], b: Sequence[str], n: int = 3) -> str:
    seen = set(b)
    words = list(dict.fromkeys(w for w in a if w in seen and not w.startswith("=")))[:n]
    return ", ".join(words)


def _order(score: np.ndarray, keys: Sequence[str], k: int) -> list[int]:
    """The k best indexes: by score (to 1e-6, so float noise cannot reorder), then by key."""
    rounded = np.round(score.astype(np.float64), 6)
    return sorted(range(len(keys)), key=lambda i: (-rounded[i], keys[i]))[:k]


def _scaled(cos: np.ndarray) -> np.ndarray:
    return np.clip((cos - SEM_LOW) / (SEM_HIGH - SEM_LOW), 0.0, 1.0).astype(np.float32)


def _snippet(text: str, n: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[:n].rsplit(" ", 1)[0] + "…"


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


def where_now(c: Community, p: Profile, now_ms: int) -> Space | None:
    if p.presence is None or not p.presence.active(now_ms):
        return None
    return c.resolve_space(p.presence.space)


# --- people to meet now --------------------------------------------------------------------------

def people_to_meet(c: Community, did: str, now_ms: int, k: int = 5) -> Answer:
    """Members present at the same space or in the same city, ranked by complementarity
    (their offers meet my needs, my offers meet theirs, by meaning and by words), overlap of
    stay, and novelty."""
    me = c.profiles.get(did)
    if me is None:
        return Answer((), "the matcher has no granted fields of yours: run 'passport match join'")
    here = where_now(c, me, now_ms)
    if here is None:
        return Answer((), "no presence: grant the 'space' field and check in "
                          "('passport match checkin TOKEN')")
    c.ready()
    city = norm_place(here.city)
    cands: list[str] = []
    place: list[float] = []
    for sid, space in c.spaces.items():
        if sid != here.id and norm_place(space.city) != city:
            continue
        weight = SAME_SPACE if sid == here.id else SAME_CITY
        for other in sorted(c.at_space.get(sid, ())):
            if other == did:
                continue
            p = c.profiles.get(other)
            if p is not None and p.presence is not None and p.presence.active(now_ms):
                cands.append(other)
                place.append(weight)
    if not cands:
        return Answer((), f"nobody else who shares their presence is at {here.name} or in "
                          f"{here.city} now")
    they_offer = _complement(c, need_text(me), need_tokens(me), theirs=c.offer_vecs,
                             texts=c.offers, cands=cands)
    they_need = _complement(c, offer_text(me), offer_tokens(me), theirs=c.need_vecs,
                            texts=c.needs, cands=cands)
    my_until = me.presence.until_ms if me.presence else now_ms
    stay = np.empty(len(cands), dtype=np.float32)
    new = np.empty(len(cands), dtype=np.float32)
    met = c.met.get(did, set())
    for i, other in enumerate(cands):
        op = c.profiles[other].presence
        assert op is not None
        stay[i] = min(max(0, min(my_until, op.until_ms) - now_ms), STAY_FULL_OVERLAP_MS) / \
            STAY_FULL_OVERLAP_MS
        new[i] = 0.0 if other in met else 1.0
    score = (W_NEED * they_offer + W_OFFER * they_need + W_PLACE * np.asarray(place)
             + W_STAY * stay + W_NEW * new)
    out = []
    for i in _order(score, cands, k):
        them = c.profiles[cands[i]]
        out.append(Suggestion(them.did, them.label, float(score[i]),
                              _why_meet(c, me, them, now_ms=now_ms, here=here, met=met),
                              _used(them, "can_help_with", "expertise", "looking_for", "space",
                                    "leaving_at", "name")))
    return Answer(tuple(out))


def _complement(c: Community, mine: str, my_terms: list[str], *, theirs: Vectors,
                texts: Texts, cands: list[str]) -> np.ndarray:
    """How well the candidates' text (offers or needs) meets mine: meaning and words, 0..1."""
    if not mine:
        return np.zeros(len(cands), dtype=np.float32)
    sem = _scaled(theirs.sims_for(c.embed(mine), cands))
    lex = _norm(texts.scores_for(my_terms, cands)) if my_terms else np.zeros(len(cands))
    return (0.7 * sem + 0.3 * lex).astype(np.float32)


def _why_meet(c: Community, me: Profile, other: Profile, *, now_ms: int, here: Space,
              met: set[str]) -> str:
    parts = []
    gives = surface_hits(offer_text(other), need_tokens(me))
    takes = surface_hits(need_text(other), offer_tokens(me))
    if gives:
        parts.append(f"can help with {gives}, which you look for")
    elif offer_text(other):
        parts.append(f"offers \u201c{_snippet(offer_text(other))}\u201d")
    if takes:
        parts.append(f"looks for {takes}, which you offer")
    there = where_now(c, other, now_ms)
    assert other.presence is not None
    at = "here" if there is not None and there.id == here.id else \
        f"at {there.name if there else other.presence.space}"
    parts.append(f"{at} until {_hhmm(other.presence.until_ms)}" if other.presence.stay_known
                 else at)
    parts.append("met before" if other.did in met else "not met before")
    return "; ".join(parts)


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
    helpful = np.maximum(_norm(help_words), np.where(help_sem > 0, 0.5 + help_sem / 2, 0.0))
    present = np.asarray([1.0 if where_now(c, c.profiles[d], now_ms) else 0.0 for d in cand],
                         dtype=np.float32)
    load = np.asarray([c.load.get(d, 0.0) for d in cand], dtype=np.float32)
    base = W_TEXT * _norm(rel) + W_HELPFUL * helpful + W_PRESENT * present
    relevant = rel >= RELEVANT * float(rel.max())
    score = np.where(relevant, base / (1 + LOAD_PENALTY * load), base)
    tiered = score + np.where(relevant, 10.0, 0.0)  # load never lifts the irrelevant above
    out = []
    for i in _order(tiered, cand, k):
        p = c.profiles[cand[i]]
        known = surface_hits(offer_text(p), words)
        if known:
            parts = [f"knows {known}"]
        elif offer_text(p):
            parts = [f"close in meaning: \u201c{_snippet(offer_text(p))}\u201d"]
        else:
            parts = ["helped with a question like this before"]
        if help_words[i] > 0 or help_sem[i] > 0:
            parts.append("answers to questions like this were marked helpful")
        if present[i]:
            parts.append("is at a space now")
        if load[i] >= 1 and relevant[i]:
            parts.append(f"asked recently ({load[i]:.0f}), ranked a bit lower")
        out.append(Suggestion(p.did, p.label, float(score[i]), "; ".join(parts),
                              _used(p, "expertise", "can_help_with", "space", "name")))
    return Answer(tuple(out))


# --- spaces and content --------------------------------------------------------------------------

def _interests(p: Profile) -> list[str]:
    return tokenize(f"{p.interests} {p.looking_for} {p.expertise}")


def suggest_spaces(c: Community, did: str, now_ms: int, k: int = 3) -> Answer:
    """Spaces whose community (the interests of members placed there now who shared them)
    and tags meet the member's interests, by words and meaning; the member's own city first."""
    me = c.profiles.get(did)
    if me is None:
        return Answer((), "the matcher has no granted fields of yours: run 'passport match join'")
    words = _interests(me)
    c.ready()
    index = c.space_index()
    if not words or not len(index):
        return Answer((), "no interests granted, or no spaces known")
    lex = _norm(index.scores(words))
    mine = c.embed(". ".join(t for t in (me.interests, me.looking_for, me.expertise) if t))
    sem = _scaled(c.space_vectors() @ mine)
    rel = 0.5 * lex + 0.5 * sem
    now_here = np.asarray([sum(1 for d in c.at_space.get(s, ()) if (p := c.profiles.get(d))
                               and p.presence and p.presence.active(now_ms))
                           for s in index.dids], dtype=np.float32)
    city = me.city or (c.city_of(me.presence.space) if me.presence else "")
    home = np.asarray([1.0 if city and norm_place(c.spaces[s].city) == city else 0.0
                       for s in index.dids], dtype=np.float32)
    score = 0.7 * rel + 0.1 * _norm(now_here) + 0.2 * home
    out = []
    for i in _order(score, index.dids, k):
        space = c.spaces[index.dids[i]]
        counts = c.space_terms.get(space.id)
        terms = [t for t, _ in counts.most_common(50)] if counts else []
        terms += tokenize(" ".join(space.tags))
        shared = surface_hits(f"{me.interests} {me.looking_for} {me.expertise}", terms)
        why = f"in {space.city}; " + (f"its people and tags share your interest in {shared}"
                                      if shared else "close to your interests in meaning"
                                      if sem[i] > 0 else "few shared interests") + \
            f"; {int(now_here[i])} there now"
        out.append(Suggestion(space.id, space.name, float(score[i]), why,
                              _used(me, "interests", "looking_for", "expertise", "city")))
    return Answer(tuple(out))


def suggest_content(c: Community, did: str, now_ms: int, k: int = 3) -> Answer:
    me = c.profiles.get(did)
    if me is None:
        return Answer((), "the matcher has no granted fields of yours: run 'passport match join'")
    words = _interests(me)
    index = c.content_index()
    if not words or not len(index):
        return Answer((), "no interests granted, or no content posted")
    rel = _norm(index.scores(words))
    city = me.city or (c.city_of(me.presence.space) if me.presence else "")
    near = np.asarray([1.0 if (there := c.content[cid].space) and city
                       and c.city_of(there) == city else 0.0 for cid in index.dids],
                      dtype=np.float32)
    score = 0.8 * rel + 0.2 * near
    order = [i for i in _order(score, index.dids, k) if rel[i] > 0]
    out = []
    for i in order:
        item: Content = c.content[index.dids[i]]
        why = f"about {surface_hits(item.title + ' ' + ' '.join(item.tags), words)}" + (
            " near you" if near[i] else "")
        out.append(Suggestion(item.id, item.title, float(score[i]), why,
                              _used(me, "interests", "looking_for", "expertise", "city")))
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
    rel = _norm(sem + W_LEX * np.asarray([lex.of(d) for d in cand], dtype=np.float32))
    near = _endorsed_near(c, "mission", q)
    fed = c.endorsements["mission"]
    qset = set(words)
    fb_words = _norm(np.asarray([sum(math.log1p(n) for w, n in fed.get(d, {}).items()
                                     if w in qset) for d in cand], dtype=np.float32))
    fb = np.maximum(fb_words, np.asarray([0.5 + near[d] / 2 if d in near else 0.0
                                          for d in cand], dtype=np.float32))
    score = 0.75 * rel + 0.25 * fb
    out = []
    for j in _order(score, cand, k):
        p = c.profiles[cand[j]]
        offered = surface_hits(f"{p.expertise} {p.can_help_with} {p.freelance}", words)
        why = f"offers {offered}" if offered else \
            f"close in meaning: \u201c{_snippet(p.freelance)}\u201d"
        if fb[j] > 0:
            why += "; earlier missions in this area got accepted feedback"
        out.append(Suggestion(p.did, p.label, float(score[j]), why,
                              _used(p, "freelance", "expertise", "can_help_with", "name")))
    return Answer(tuple(out))


# --- rides ---------------------------------------------------------------------------------------

def plan_route(c: Community, rider: Profile) -> tuple[str, str, str] | None:
    """(origin city, destination city, date) of the rider's plan, all normalised."""
    if rider.plan is None or not rider.plan.date:
        return None
    origin = rider.plan.origin
    dest = c.city_of(rider.plan.destination)
    if not origin or not dest or origin == dest:
        return None
    return origin, dest, rider.plan.date


def trip_fits(trip: Trip, route: tuple[str, str, str]) -> bool:
    return (trip.origin, trip.destination, trip.date) == route and trip.seats > 0


def ride_matches(c: Community, rider: str) -> list[tuple[Profile, Trip]]:
    """Drivers whose granted trip goes from the rider's city to the plan's city that day."""
    me = c.profiles.get(rider)
    route = plan_route(c, me) if me is not None else None
    if route is None:
        return []
    found = []
    for did in sorted(c.drivers):
        p = c.profiles.get(did)
        if p is not None and p.trip is not None and did != rider and trip_fits(p.trip, route):
            found.append((p, p.trip))
    return found


__all__ = ["Answer", "Suggestion", "match_mission", "norm_date", "people_to_meet",
           "ride_matches", "route_question", "suggest_content", "suggest_spaces"]
