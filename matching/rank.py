"""The rankers of people to meet now, spaces, content and rides: pure functions of a ``Community``
(granted fields only), a member and the time.  Who can answer a question and which freelancer
fits a mission are ranked in ``matching.routing`` (exported here too).

Relevance is meaning and words together: the cosine of sentence embeddings (``matching.embed``)
plus a BM25 term score normalised per query (``matching.text``: stop words out, stems, aliases,
typos forgiven).  Each answer names, per suggestion, why in one line and which granted fields it
used.  Ties are broken by id, so an answer depends only on the community, not on the order it was
built in (``matching.answers``).  Weights are constants here, chosen on the hand-written
development community of ``bench/communities/dev.json`` and documented in docs/protocol.md
("Matching").
"""

from __future__ import annotations

import numpy as np

from matching.answers import Answer, Suggestion, norm, ranked_by, snippet, used, where_now
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
from matching.routing import match_mission, route_question
from matching.text import Texts, surface_hits, tokenize

MINUTE_MS = 60_000
STAY_FULL_OVERLAP_MS = 3 * 3_600_000  # three hours together or more counts fully
SAME_SPACE, SAME_CITY = 1.0, 0.5
SEM_LOW, SEM_HIGH = 0.10, 0.50  # cosine mapped to 0..1 between these for people and spaces

W_NEED, W_OFFER, W_PLACE, W_STAY, W_NEW = 0.40, 0.25, 0.12, 0.13, 0.10


def _hhmm(ms: int) -> str:
    return f"{(ms // 3_600_000) % 24:02d}:{(ms // MINUTE_MS) % 60:02d}"


def _scaled(cos: np.ndarray) -> np.ndarray:
    return np.clip((cos - SEM_LOW) / (SEM_HIGH - SEM_LOW), 0.0, 1.0).astype(np.float32)


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
    for i in ranked_by(score, cands, k):
        them = c.profiles[cands[i]]
        out.append(Suggestion(them.did, them.label, float(score[i]),
                              _why_meet(c, me, them, now_ms=now_ms, here=here, met=met),
                              used(them, "can_help_with", "expertise", "looking_for", "space",
                                    "leaving_at", "name")))
    return Answer(tuple(out))


def _complement(c: Community, mine: str, my_terms: list[str], *, theirs: Vectors,
                texts: Texts, cands: list[str]) -> np.ndarray:
    """How well the candidates' text (offers or needs) meets mine: meaning and words, 0..1."""
    if not mine:
        return np.zeros(len(cands), dtype=np.float32)
    sem = _scaled(theirs.sims_for(c.embed(mine), cands))
    lex = norm(texts.scores_for(my_terms, cands)) if my_terms else np.zeros(len(cands))
    return (0.7 * sem + 0.3 * lex).astype(np.float32)


def _why_meet(c: Community, me: Profile, other: Profile, *, now_ms: int, here: Space,
              met: set[str]) -> str:
    parts = []
    gives = surface_hits(offer_text(other), need_tokens(me))
    takes = surface_hits(need_text(other), offer_tokens(me))
    if gives:
        parts.append(f"can help with {gives}, which you look for")
    elif offer_text(other):
        parts.append(f"offers \u201c{snippet(offer_text(other))}\u201d")
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
    lex = norm(index.scores(words))
    mine = c.embed(". ".join(t for t in (me.interests, me.looking_for, me.expertise) if t))
    sem = _scaled(c.space_vectors() @ mine)
    rel = 0.5 * lex + 0.5 * sem
    now_here = np.asarray([sum(1 for d in c.at_space.get(s, ()) if (p := c.profiles.get(d))
                               and p.presence and p.presence.active(now_ms))
                           for s in index.dids], dtype=np.float32)
    city = me.city or (c.city_of(me.presence.space) if me.presence else "")
    home = np.asarray([1.0 if city and norm_place(c.spaces[s].city) == city else 0.0
                       for s in index.dids], dtype=np.float32)
    score = 0.7 * rel + 0.1 * norm(now_here) + 0.2 * home
    out = []
    for i in ranked_by(score, index.dids, k):
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
                              used(me, "interests", "looking_for", "expertise", "city")))
    return Answer(tuple(out))


def suggest_content(c: Community, did: str, now_ms: int, k: int = 3) -> Answer:
    me = c.profiles.get(did)
    if me is None:
        return Answer((), "the matcher has no granted fields of yours: run 'passport match join'")
    words = _interests(me)
    index = c.content_index()
    if not words or not len(index):
        return Answer((), "no interests granted, or no content posted")
    rel = norm(index.scores(words))
    city = me.city or (c.city_of(me.presence.space) if me.presence else "")
    near = np.asarray([1.0 if (there := c.content[cid].space) and city
                       and c.city_of(there) == city else 0.0 for cid in index.dids],
                      dtype=np.float32)
    score = 0.8 * rel + 0.2 * near
    order = [i for i in ranked_by(score, index.dids, k) if rel[i] > 0]
    out = []
    for i in order:
        item: Content = c.content[index.dids[i]]
        why = f"about {surface_hits(item.title + ' ' + ' '.join(item.tags), words)}" + (
            " near you" if near[i] else "")
        out.append(Suggestion(item.id, item.title, float(score[i]), why,
                              used(me, "interests", "looking_for", "expertise", "city")))
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
           "ride_matches", "route_question", "suggest_content", "suggest_spaces", "where_now"]
