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

from matching.evaluate import build, run
from matching.index import Community, mission_text, offer_text
from matching.model import profile_from_granted
from matching.rank import where_now

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
    """precision@5 of people to meet against the good pairs, beside the precision of a random
    pick among the same candidates (everyone present in the asker's city now)."""
    good: dict[str, set[str]] = defaultdict(set)
    for a, b in truth["people_pairs"]:
        good[a].add(b)
        good[b].add(a)
    from ledger.times import parse_ts  # noqa: PLC0415

    now = parse_ts(data["now"])
    ours, rand, first, sizes = [], [], [], []
    for q in data["queries"]:
        if q["kind"] != "people":
            continue
        me = c.profiles[q["asker"]]
        here = where_now(c, me, now)
        if here is None:
            continue
        cands = [d for d, p in c.profiles.items() if d != me.did
                 and (w := where_now(c, p, now)) is not None and c.city_of(w.city)
                 == c.city_of(here.city)]
        got = answers[q["id"]]
        if got and cands:
            ours.append(sum(d in good[me.did] for d in got) / len(got))
            rand.append(sum(d in good[me.did] for d in cands) / len(cands))
            first.append(1.0 if got[0] in good[me.did] else 0.0)
            sizes.append(len(cands))
    p, r = _mean(ours), _mean(rand)
    return {"n": len(ours), "precision@5": p, "random_precision@5": r,
            "ratio": round(p / r, 2) if r else None,
            "precision@1": _mean(first), "ratio@1": round(_mean(first) / r, 2) if r else None,
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
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


__all__ = ["profile_from_granted", "score"]

if __name__ == "__main__":
    main()
