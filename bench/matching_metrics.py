"""Matching quality per kind of answer on a synthetic community with a known truth
(``matching.synth``), each beside a keyword-overlap baseline computed on the same data: questions
(hit@3, MRR@10), people to meet (precision@5), missions, content (precision@3), rides (recall,
precision); with the answer times.  ``bench/matching_eval.py`` builds the community and runs them.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict

from bench.match_score import keywords
from matching.index import Community, mission_text, need_tokens, offer_text, offer_tokens
from matching.rank import (
    match_mission,
    people_to_meet,
    ride_matches,
    route_question,
    suggest_content,
    where_now,
)
from matching.synth import Truth
from matching.text import tokenize

NOW_MS = 1_795_000_000_000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def baseline_route(inverted: dict[str, set[str]], asker: str, text: str, k: int) -> list[str]:
    """Keyword overlap: members ranked by how many of the question's words they wrote."""
    counts: dict[str, int] = defaultdict(int)
    for w in keywords(text):
        for did in inverted.get(w, ()):
            counts[did] += 1
    counts.pop(asker, None)
    return [d for d, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def baseline_people(c: Community, did: str, k: int, *, city: bool = False) -> list[str]:
    """Keyword overlap of needs and offers among the members present at my space (or, with
    ``city``, at any space of my city: the matcher's own candidates), ties by did."""
    me = c.profiles[did]
    here = where_now(c, me, NOW_MS)
    if here is None:
        return []
    mine_n, mine_o = set(need_tokens(me)), set(offer_tokens(me))
    scored = []
    places = [s for s, sp in c.spaces.items() if sp.city == here.city] if city else [here.id]
    for other in (o for s in places for o in c.at_space.get(s, ())):
        p = c.profiles[other]
        if other == did or p.presence is None or not p.presence.active(NOW_MS):
            continue
        scored.append((-(len(mine_n & set(offer_tokens(p))) + len(mine_o & set(need_tokens(p)))),
                       other))
    return [d for _, d in sorted(scored)[:k]]


def _hit3(rr: list[float]) -> float:
    return round(sum(r >= 1 / 3 for r in rr) / max(1, len(rr)), 3)


def routing(c: Community, truth: Truth) -> dict[str, object]:
    """hit@3 and MRR@10 against the true experts, for the matcher (with its load spreading on,
    as served), the matcher without load spreading, and keyword overlap; also split by whether
    the question holds a word specific to its domain (or only words shared with other
    domains: ambiguous by construction, no ranker can tell which domain was meant)."""
    inverted: dict[str, set[str]] = defaultdict(set)
    for did, p in c.profiles.items():
        for w in keywords(offer_text(p)):
            inverted[w].add(did)
    ours_rr: list[float] = []
    base_times: list[float] = []
    base_rr: list[float] = []
    flat_rr: list[float] = []
    specific: list[bool] = []
    times: list[float] = []
    cpu_times: list[float] = []  # this thread's CPU time: the work, without waits for a core
    asked: dict[str, int] = defaultdict(int)

    def rr_of(got: list[str], experts: set[str]) -> float:
        first = next((i for i, d in enumerate(got) if d in experts), None)
        return 0.0 if first is None else 1 / (first + 1)

    for asker, text, domain in truth.questions:
        experts = truth.experts[domain]
        t, cpu = time.perf_counter(), time.thread_time()
        answer = route_question(c, asker, text, NOW_MS, k=10)
        times.append((time.perf_counter() - t) * 1000)
        cpu_times.append((time.thread_time() - cpu) * 1000)
        ranked = [s.did for s in answer.suggestions]
        c.note_routed(ranked[:3])
        for d in ranked[:3]:
            asked[d] += 1
        ours_rr.append(rr_of(ranked, experts))
        t = time.perf_counter()
        base = baseline_route(inverted, asker, text, 10)
        base_times.append((time.perf_counter() - t) * 1000)
        base_rr.append(rr_of(base, experts))
        specific.append(bool(set(tokenize(text)) & truth.specific[domain]))
    c.load.clear()
    for asker, text, domain in truth.questions:  # the same questions, no load spreading
        ranked = [s.did for s in route_question(c, asker, text, NOW_MS, k=10).suggestions]
        flat_rr.append(rr_of(ranked, truth.experts[domain]))
    spec = [i for i, s in enumerate(specific) if s]
    amb = [i for i, s in enumerate(specific) if not s]

    def split(rr: list[float]) -> dict[str, float]:
        return {"specific_hit@3": _hit3([rr[i] for i in spec]),
                "ambiguous_hit@3": _hit3([rr[i] for i in amb])}

    n = len(truth.questions)
    return {"n": n, "specific_questions": len(spec), "ambiguous_questions": len(amb),
            "hit@3": _hit3(ours_rr), "mrr@10": round(statistics.mean(ours_rr), 3),
            "baseline_hit@3": _hit3(base_rr),
            "baseline_mrr@10": round(statistics.mean(base_rr), 3),
            "no_load_spreading_hit@3": _hit3(flat_rr),
            "no_load_spreading_mrr@10": round(statistics.mean(flat_rr), 3),
            "matcher": split(ours_rr), "baseline": split(base_rr),
            "max_times_asked": max(asked.values()), "distinct_experts_asked": len(asked),
            "p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2),
            "cpu_p50_ms": round(pct(cpu_times, 50), 2), "cpu_p99_ms": round(pct(cpu_times, 99), 2),
            "baseline_p50_ms": round(pct(base_times, 50), 2),
            "baseline_p99_ms": round(pct(base_times, 99), 2)}


def people(c: Community, truth: Truth, queries: int) -> dict[str, object]:
    present = sorted(d for d, p in c.profiles.items() if where_now(c, p, NOW_MS) is not None)
    step = max(1, len(present) // queries)
    sample = present[::step][:queries]

    def good(a: str, b: str) -> bool:
        return bool(truth.offers.get(a, set()) & truth.needs.get(b, set())
                    or truth.offers.get(b, set()) & truth.needs.get(a, set()))

    ours: list[float] = []
    base: list[float] = []
    base_city: list[float] = []
    times: list[float] = []
    for did in sample:
        t = time.perf_counter()
        got = [s.did for s in people_to_meet(c, did, NOW_MS, k=5).suggestions]
        times.append((time.perf_counter() - t) * 1000)
        b = baseline_people(c, did, 5)
        bc = baseline_people(c, did, 5, city=True)
        if bc:
            base_city.append(sum(good(did, o) for o in bc) / len(bc))
        if got:
            ours.append(sum(good(did, o) for o in got) / len(got))
        if b:
            base.append(sum(good(did, o) for o in b) / len(b))
    return {"n": len(sample), "precision@5": round(statistics.mean(ours), 3),
            "baseline_precision@5": round(statistics.mean(base), 3),
            "baseline_same_candidates_precision@5": round(statistics.mean(base_city), 3),
            "p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2)}


def missions(c: Community, truth: Truth) -> dict[str, object]:
    """Missions: the freelancers of the need's domain, against keyword overlap."""
    inverted: dict[str, set[str]] = defaultdict(set)
    for did, p in c.profiles.items():
        for w in keywords(mission_text(p)):
            inverted[w].add(did)
    ours: list[float] = []
    base: list[float] = []
    times: list[float] = []
    for company, text, domain in truth.missions:
        good = truth.freelancers[domain]
        t = time.perf_counter()
        got = [s.did for s in match_mission(c, company, text, k=10).suggestions]
        times.append((time.perf_counter() - t) * 1000)
        for ranked, rr in ((got, ours), (baseline_route(inverted, company, text, 10), base)):
            first = next((i for i, d in enumerate(ranked) if d in good), None)
            rr.append(0.0 if first is None else 1 / (first + 1))
    return {"n": len(truth.missions), "hit@3": _hit3(ours),
            "mrr@10": round(statistics.mean(ours), 3),
            "baseline_hit@3": _hit3(base),
            "baseline_mrr@10": round(statistics.mean(base), 3),
            "p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2)}


def content(c: Community, truth: Truth, queries: int = 500) -> dict[str, object]:
    """Content suggestions: precision@3 of items about a domain the member is interested in
    (needs or expertise), against keyword overlap of the member's words with the titles."""
    members = [d for d in sorted(truth.interests) if d in c.profiles][::97][:queries]
    index = c.content_index()
    words_of = {cid: set(tokenize(c.content[cid].title + " " + " ".join(c.content[cid].tags)))
                for cid in index.dids}
    ours: list[float] = []
    base: list[float] = []
    times: list[float] = []
    for did in members:
        wanted = truth.interests[did]
        t = time.perf_counter()
        got = [s.did for s in suggest_content(c, did, NOW_MS, k=3).suggestions]
        times.append((time.perf_counter() - t) * 1000)
        p = c.profiles[did]
        mine = set(tokenize(f"{p.interests} {p.looking_for} {p.expertise}"))
        scored = sorted((-len(mine & ws), cid) for cid, ws in words_of.items() if mine & ws)
        b = [cid for _, cid in scored[:3]]
        if got:
            ours.append(sum(truth.content[x] in wanted for x in got) / len(got))
        if b:
            base.append(sum(truth.content[x] in wanted for x in b) / len(b))
    return {"n": len(members), "answered": len(ours),
            "precision@3": round(statistics.mean(ours), 3) if ours else 0.0,
            "baseline_answered": len(base),
            "baseline_precision@3": round(statistics.mean(base), 3) if base else 0.0,
            "p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2)}


def rides(c: Community, truth: Truth) -> dict[str, object]:
    found: set[tuple[str, str]] = set()
    base: set[tuple[str, str]] = set()
    by_date: dict[str, list[tuple[str, set[str], set[str]]]] = defaultdict(list)
    for p in c.profiles.values():
        if p.trip is not None:
            by_date[p.trip.date].append((p.did, set(tokenize(p.trip.origin)),
                                         set(tokenize(p.trip.destination))))
    for rider in truth.riders:
        found.update((rider, p.did) for p, _ in ride_matches(c, rider))
        plan = c.profiles[rider].plan
        assert plan is not None
        dest, origin = set(tokenize(plan.destination)), set(tokenize(plan.origin))
        for did, t_origin, t_dest in by_date.get(plan.date, ()):  # keyword overlap
            if dest == t_dest and origin == t_origin:
                base.add((rider, did))
    true = truth.ride_pairs
    return {"true_pairs": len(true), "recall": round(len(found & true) / len(true), 3),
            "precision": round(len(found & true) / max(1, len(found)), 3),
            "baseline_recall": round(len(base & true) / len(true), 3),
            "baseline_precision": round(len(base & true) / max(1, len(base)), 3)}
