"""Score the matcher on a hand-written community with ground truth (``bench/communities``).

    python -m bench.match_score bench/communities/dev.json [--json OUT]

The answers come from ``matching.evaluate.run`` (what ``passport match eval`` prints: granted
values only, the service's Community and rank functions); the truth file beside the dataset
(``NAME.truth.json``) says which members answer each question (and its category), which suit
each mission, and which pairs of members are worth meeting.  A keyword-overlap baseline (shared
words, English stop words out, nothing else) runs on the same granted profiles in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bm25s.stopwords import STOPWORDS_EN

from bench.report import print_result
from matching.evaluate import build, run
from matching.index import Community, mission_text, offer_text
from matching.model import profile_from_granted
from matching.rank import people_to_meet, where_now

PLAIN = re.compile(r"[^\W_]+")


def keywords(text: str) -> set[str]:
    """The baseline's words: lower case, English stop words out; no stems, aliases, typos."""
    return {w for w in PLAIN.findall(text.lower()) if w not in STOPWORDS_EN and len(w) > 1}


def keyword_rank(docs: Mapping[str, set[str]], asker: str, text: str, k: int) -> list[str]:
    q = keywords(text)
    scored = sorted((-len(q & ws), d) for d, ws in docs.items() if d != asker and q & ws)
    return [d for _, d in scored[:k]]


def _hit(got: list[str], good: set[str], k: int = 3) -> float:
    return 1.0 if set(got[:k]) & good else 0.0


def _mean(xs: list[float]) -> float:
    return round(statistics.mean(xs), 3) if xs else 0.0


def score(data: Mapping[str, Any], truth: Mapping[str, Any]) -> dict[str, Any]:
    result = run(data)
    answers: dict[str, list[str]] = result["answers"]
    c = build(data)
    offers = {d: keywords(offer_text(p)) for d, p in c.profiles.items() if offer_text(p)}
    missions = {d: keywords(mission_text(p)) for d, p in c.profiles.items() if mission_text(p)}
    queries = {q["id"]: q for q in data["queries"]}
    cats: dict[str, list[float]] = defaultdict(list)
    base: dict[str, list[float]] = defaultdict(list)
    three: list[float] = []
    misses = []
    for qid, t in truth["questions"].items():
        good = set(t["answerers"])
        q = queries[qid]
        h = _hit(answers[qid], good)
        b = _hit(keyword_rank(offers, q["asker"], q["text"], 3), good)
        for cat in (t["category"], "all"):
            cats[cat].append(h)
            base[cat].append(b)
        eligible = sum(1 for d in offers if d != q["asker"])
        if eligible >= 3:
            three.append(1.0 if len(answers[qid]) == 3 else 0.0)
        if not h:
            misses.append({"id": qid, "text": q["text"], "got": answers[qid],
                           "want": sorted(good)})
    out: dict[str, Any] = {"questions": {
        cat: {"n": len(xs), "hit@3": _mean(xs), "keyword_hit@3": _mean(base[cat])}
        for cat, xs in sorted(cats.items())}}
    out["questions"]["routed_to_three"] = _mean(three)
    m_hit, m_base = [], []
    for qid, good_list in truth["missions"].items():
        good = set(good_list)
        m_hit.append(_hit(answers[qid], good))
        m_base.append(_hit(keyword_rank(missions, "", queries[qid]["text"], 3), good))
        if not m_hit[-1]:
            misses.append({"id": qid, "text": queries[qid]["text"], "got": answers[qid],
                           "want": sorted(good)})
    out["missions"] = {"n": len(m_hit), "hit@3": _mean(m_hit), "keyword_hit@3": _mean(m_base)}
    out["people"] = _people(data, truth, answers, c)
    rides = truth.get("rides", {})
    out["rides"] = {"n": len(rides), "exact": _mean([1.0 if set(answers[q]) == set(g) else 0.0
                                                     for q, g in rides.items()])}
    out["timings"] = result["timings"]
    out["misses"] = misses
    return out


def _people(data: Mapping[str, Any], truth: Mapping[str, Any], answers: dict[str, list[str]],
            c: Community) -> dict[str, Any]:
    """precision@5 of people to meet against the good pairs, beside: a random pick among the
    same candidates (everyone present in the asker's city now), a place-only ranking (my
    space first, then the rest of my city, ties by did: what place alone gives), and the
    ceiling (the best any ranking of these candidates can score: an asker with one good
    match among them scores at most 0.2).  Also R-precision (precision at R, the number of
    good candidates), which has no such ceiling."""
    good: dict[str, set[str]] = defaultdict(set)
    for a, b in truth["people_pairs"]:
        good[a].add(b)
        good[b].add(a)
    from ledger.times import parse_ts  # noqa: PLC0415

    now = parse_ts(data["now"])
    ours, rand, first, sizes, place, ceiling, r_prec = [], [], [], [], [], [], []
    for q in data["queries"]:
        if q["kind"] != "people":
            continue
        me = c.profiles[q["asker"]]
        here = where_now(c, me, now)
        if here is None:
            continue
        at = {d: w.id for d, p in c.profiles.items() if d != me.did
              and (w := where_now(c, p, now)) is not None
              and c.city_of(w.city) == c.city_of(here.city)}
        cands = list(at)
        got = answers[q["id"]]
        if got and cands:
            mine = good[me.did]
            n = len(got)
            ours.append(sum(d in mine for d in got) / n)
            rand.append(sum(d in mine for d in cands) / len(cands))
            first.append(1.0 if got[0] in mine else 0.0)
            sizes.append(len(cands))
            by_place = sorted(cands, key=lambda d: (at[d] != here.id, d))[:n]
            place.append(sum(d in mine for d in by_place) / n)
            ceiling.append(min(n, sum(d in mine for d in cands)) / n)
            r = sum(d in mine for d in cands)
            if r:
                full = [x.did for x in people_to_meet(c, me.did, now, k=r).suggestions]
                r_prec.append(sum(d in mine for d in full[:r]) / r)
    p, r_ = _mean(ours), _mean(rand)
    return {"n": len(ours), "precision@5": p, "random_precision@5": r_,
            "ratio": round(p / r_, 2) if r_ else None,
            "place_only_precision@5": _mean(place), "ceiling_precision@5": _mean(ceiling),
            "ceiling_ratio": round(_mean(ceiling) / r_, 2) if r_ else None,
            "r_precision": _mean(r_prec),
            "precision@1": _mean(first), "ratio@1": round(_mean(first) / r_, 2) if r_ else None,
            "median_candidates": sorted(sizes)[len(sizes) // 2] if sizes else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    data = json.loads(args.dataset.read_text(encoding="utf-8"))
    truth = json.loads(args.dataset.with_suffix("").with_suffix(".truth.json")
                       .read_text(encoding="utf-8"))
    result = score(data, truth)
    print_result(result, args.json, ensure_ascii=False)


__all__ = ["profile_from_granted", "score"]

if __name__ == "__main__":
    main()
