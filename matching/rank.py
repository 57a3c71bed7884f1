"""The rankers: pure functions of a ``Community`` (granted fields only), a member and the time.

Each answer names, per suggestion, why in one line and which granted fields it used.  Weights
are constants here, chosen on the synthetic community of ``matching.synth`` and documented in
docs/protocol.md ("Matching").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matching.index import Community, Content, need_tokens, offer_tokens
from matching.model import Profile, Space, Trip, norm_date
from matching.text import tokenize

MINUTE_MS = 60_000
STAY_FULL_OVERLAP_MS = 3 * 3_600_000  # three hours together or more counts fully
SAME_SPACE, SAME_CITY = 1.0, 0.5
QUESTION_POOL = 60  # candidates taken from BM25 before the other signals re-rank them
LOAD_PENALTY = 0.35  # score / (1 + LOAD_PENALTY * recent routings)

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
    words = list(dict.fromkeys(w for w in a if w in seen))[:n]
    return ", ".join(words)


def where_now(c: Community, p: Profile, now_ms: int) -> Space | None:
    if p.presence is None or not p.presence.active(now_ms):
        return None
    return c.resolve_space(p.presence.space)


# --- people to meet now --------------------------------------------------------------------------

def people_to_meet(c: Community, did: str, now_ms: int, k: int = 5) -> Answer:
    """Members present at the same space or in the same city, ranked by complementarity
    (their offers meet my needs, my offers meet theirs), overlap of stay, and novelty."""
    me = c.profiles.get(did)
    if me is None:
        return Answer((), "the matcher has no granted fields of yours: run 'passport match join'")
    here = where_now(c, me, now_ms)
    if here is None:
        return Answer((), "no presence: grant the 'space' field and check in "
                          "('passport match checkin TOKEN')")
    city = here.city
    cands: list[str] = []
    place: list[float] = []
    for sid, space in c.spaces.items():
        if sid != here.id and space.city != city:
            continue
        weight = SAME_SPACE if sid == here.id else SAME_CITY
        for other in c.at_space.get(sid, ()):
            if other == did:
                continue
            p = c.profiles.get(other)
            if p is not None and p.presence is not None and p.presence.active(now_ms):
                cands.append(other)
                place.append(weight)
    if not cands:
        return Answer((), f"nobody else who shares their presence is at {here.name} or in "
                          f"{here.city} now")
    my_needs, my_offers = need_tokens(me), offer_tokens(me)
    they_offer = _norm(c.offers.scores_for(my_needs, cands)) if my_needs else np.zeros(len(cands))
    they_need = _norm(c.needs.scores_for(my_offers, cands)) if my_offers else np.zeros(len(cands))
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
    order = np.argsort(-score, kind="stable")[:k]
    out = []
    for i in order:
        them = c.profiles[cands[i]]
        out.append(Suggestion(them.did, them.label, float(score[i]),
                              _why_meet(c, me, them, now_ms=now_ms, here=here, met=met),
                              _used(them, "can_help_with", "expertise", "looking_for", "space",
                                    "leaving_at", "name")))
    return Answer(tuple(out))


def _why_meet(c: Community, me: Profile, other: Profile, *, now_ms: int, here: Space,
              met: set[str]) -> str:
    parts = []
    gives = _common(offer_tokens(other), need_tokens(me))
    takes = _common(need_tokens(other), offer_tokens(me))
    if gives:
        parts.append(f"can help with {gives}, which you look for")
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

def route_question(c: Community, asker: str, text: str, now_ms: int, k: int = 3) -> Answer:
    """Three members likely to answer: relevance of their granted expertise and offers, helpful
    answers accepted in the question's words, presence now, and less recent load first."""
    words = tokenize(text)
    if not words:
        return Answer((), "the question has no words to match on")
    dids, raw = c.offers.all_scores(words)
    if not raw.size or float(raw.max()) <= 0:
        return Answer((), "nobody who shares their expertise with the matcher matches")
    pool = min(QUESTION_POOL, int((raw > 0).sum()))
    top = np.argpartition(-raw, pool - 1)[:pool] if pool < raw.size else np.arange(raw.size)
    top = top[raw[top] > 0]
    cand = [dids[i] for i in top if dids[i] != asker and dids[i] in c.profiles]
    rel = _norm(np.asarray([raw[i] for i in top if dids[i] != asker and dids[i] in c.profiles],
                           dtype=np.float32))
    helped = c.endorsements["helpful"]
    qset = set(words)
    help_raw = np.asarray([sum(math.log1p(n) for w, n in helped.get(d, {}).items() if w in qset)
                           for d in cand], dtype=np.float32)
    helpful = _norm(help_raw)
    present = np.asarray([1.0 if where_now(c, c.profiles[d], now_ms) else 0.0 for d in cand],
                         dtype=np.float32)
    load = np.asarray([c.load.get(d, 0.0) for d in cand], dtype=np.float32)
    score = (W_TEXT * rel + W_HELPFUL * helpful + W_PRESENT * present) / (1 + LOAD_PENALTY * load)
    order = np.argsort(-score, kind="stable")[:k]
    out = []
    for i in order:
        p = c.profiles[cand[i]]
        parts = [f"knows {_common(offer_tokens(p), words) or 'related topics'}"]
        if help_raw[i] > 0:
            parts.append(f"answers in this area were marked helpful "
                         f"({round(math.expm1(help_raw[i]))}+)")
        if present[i]:
            parts.append("is at a space now")
        if load[i] >= 1:
            parts.append(f"asked recently ({load[i]:.0f}), ranked a bit lower")
        out.append(Suggestion(p.did, p.label, float(score[i]), "; ".join(parts),
                              _used(p, "expertise", "can_help_with", "space", "name")))
    return Answer(tuple(out))


# --- spaces and content --------------------------------------------------------------------------

def _interests(p: Profile) -> list[str]:
    return tokenize(f"{p.interests} {p.looking_for} {p.expertise}")


def suggest_spaces(c: Community, did: str, now_ms: int, k: int = 3) -> Answer:
    """Spaces whose community (the interests of members who checked in there and shared it)
    and tags meet the member's interests; the member's own city first."""
    me = c.profiles.get(did)
    if me is None:
        return Answer((), "the matcher has no granted fields of yours: run 'passport match join'")
    words = _interests(me)
    index = c.space_index()
    if not words or not len(index):
        return Answer((), "no interests granted, or no spaces known")
    rel = _norm(index.scores(words))
    now_here = np.asarray([sum(1 for d in c.at_space.get(s, ()) if (p := c.profiles.get(d))
                               and p.presence and p.presence.active(now_ms))
                           for s in index.dids], dtype=np.float32)
    city = me.city or (c.city_of(me.presence.space) if me.presence else "")
    home = np.asarray([1.0 if c.spaces[s].city and c.spaces[s].city == city else 0.0
                       for s in index.dids], dtype=np.float32)
    score = 0.7 * rel + 0.1 * _norm(now_here) + 0.2 * home
    order = np.argsort(-score, kind="stable")[:k]
    out = []
    for i in order:
        space = c.spaces[index.dids[i]]
        terms = [t for t, _ in c.space_terms[space.id].most_common(50)] + list(space.tags)
        why = f"in {space.city}; its people share {_common(terms, words) or 'few of'} " \
              f"your interests; {int(now_here[i])} there now"
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
    order = [i for i in np.argsort(-score, kind="stable")[:k] if rel[i] > 0]
    out = []
    for i in order:
        item: Content = c.content[index.dids[i]]
        why = f"about {_common(tokenize(item.title + ' ' + ' '.join(item.tags)), words)}" + (
            " near you" if near[i] else "")
        out.append(Suggestion(item.id, item.title, float(score[i]), why,
                              _used(me, "interests", "looking_for", "expertise", "city")))
    return Answer(tuple(out))


# --- missions ------------------------------------------------------------------------------------

def match_mission(c: Community, company: str, text: str, k: int = 5) -> Answer:
    """Freelancers (members who granted ``freelance``) for a company's need, by relevance and
    by accepted feedback from earlier missions in the same words."""
    words = tokenize(text)
    dids, raw = c.missions.all_scores(words)
    if not words or not raw.size or float(raw.max()) <= 0:
        return Answer((), "no freelancer who shares their skills with the matcher matches")
    live = [i for i in np.flatnonzero(raw > 0) if dids[i] != company and dids[i] in c.profiles]
    rel = _norm(raw[live])
    fed = c.endorsements["mission"]
    qset = set(words)
    fb = _norm(np.asarray([sum(math.log1p(n) for w, n in fed.get(dids[i], {}).items()
                               if w in qset) for i in live], dtype=np.float32))
    score = 0.75 * rel + 0.25 * fb
    out = []
    for j in np.argsort(-score, kind="stable")[:k]:
        p = c.profiles[dids[live[j]]]
        offered = tokenize(f"{p.expertise} {p.can_help_with} {p.freelance}")
        why = f"offers {_common(offered, words)}"
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
