"""Matching quality and speed on a synthetic community (``make bench-matching``).

In-process, on the pure core (``matching.index``/``matching.rank``), not through the node:
pushing 120,000 members through HTTP measures the node, not the matcher.  Every member goes
through ``profile_from_granted`` with a random subset of grants, exactly like the sync.  Each
metric is reported beside a keyword-overlap baseline computed in the same run on the same data.

Speed includes the sentence embeddings: every profile embedded from scratch (``embed_all_s``),
then 1,000 changed profiles (only those are embedded again), and every question's own
embedding inside its answer time.  The synthetic words are invented syllables, so the
embedding adds nothing to quality here: quality is measured on the hand-written communities
(``bench/match_score.py``); this run is for speed and memory at scale.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.match_score import keywords
from matching.embed import DIM, Vectors, text_key, use_encoder
from matching.index import Community, mission_text, need_tokens, offer_text, offer_tokens
from matching.rank import (
    match_mission,
    people_to_meet,
    ride_matches,
    route_question,
    suggest_content,
    where_now,
)
from matching.synth import Truth, generate
from matching.text import tokenize

NOW_MS = 1_795_000_000_000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


def progress(line: str) -> None:
    """A stage's figures as soon as they exist (a long run on a shared machine may be cut)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class CachedEncoder:
    """The real model behind a file of vectors keyed by the text's hash: a second run at 120k
    embeds only texts it has not seen (the first pays the ~12 minutes once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: dict[bytes, np.ndarray] = {}
        self.missed = 0
        if path.exists():
            with np.load(path) as z:
                keys = (bytes(k).ljust(16, b"\0") for k in z["keys"])  # S16 drops trailing NULs
                self.known = dict(zip(keys, z["vecs"], strict=True))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.known]
        if todo:
            self.missed += len(todo)
            made = use_encoder([texts[i] for i in todo])
            for i, v in zip(todo, made, strict=True):
                self.known[keys[i]] = v.astype(np.float16)
        return np.stack([self.known[k].astype(np.float32) for k in keys]) if keys else \
            np.zeros((0, DIM), dtype=np.float32)

    def save(self) -> None:
        if self.missed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.frombuffer(b"".join(self.known), dtype=np.uint8).reshape(-1, 16)
            np.savez(self.path, keys=keys, vecs=np.stack(list(self.known.values())))


def random_encoder(texts: Sequence[str]) -> np.ndarray:
    """A unit vector of the model's dimension per text, seeded by the text's hash: the same
    shapes, scans and pools as the model at a fraction of the cost (no meaning)."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(text_key(t)[:8], "little")
        out[i] = np.random.default_rng(seed).standard_normal(DIM, dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _set_encoder(c: Community, encoder: object) -> None:
    c.encoder = encoder  # type: ignore[assignment]
    c._queries.clear()
    for vecs in (c.offer_vecs, c.need_vecs, c.mission_vecs, *c.endorsed_vecs.values()):
        assert isinstance(vecs, Vectors)
        vecs.encoder = encoder  # type: ignore[assignment]


def evaluate(members: int, spaces: int, cities: int, questions: int, people_queries: int,
             seed: int = 7, domains: int = 60, popularity: float = 0.0,
             vectors: str = "model") -> dict[str, object]:
    """``vectors``: ``model`` (embed every profile now), ``random`` (hash-seeded random unit
    vectors for profiles) or a path (the model, through a cache file); in every case each
    question's own embedding and the changed profiles' are made by the real model."""
    load = os.getloadavg()
    t0 = time.perf_counter()
    rss0 = rss_mb()
    c, truth, _ = generate(members=members, spaces=spaces, cities=cities, questions=questions,
                           now_ms=NOW_MS, seed=seed, domains=domains, popularity=popularity)
    cache = CachedEncoder(Path(vectors)) if vectors not in ("model", "random") else None
    if vectors != "model":
        _set_encoder(c, cache or random_encoder)
    gen_s = time.perf_counter() - t0
    rss1 = rss_mb()
    progress(f"generated {len(c.profiles)} profiles in {gen_s:.1f} s, RSS {rss1:.0f} MB")
    t1 = time.perf_counter()
    c.rebuild()
    c.content_index()
    build_s = time.perf_counter() - t1
    rss2 = rss_mb()
    progress(f"term indexes built in {build_s:.1f} s, RSS {rss2:.0f} MB")
    t2 = time.perf_counter()
    stages = {"offers": c.offer_vecs, "needs": c.need_vecs, "missions": c.mission_vecs,
              **{f"endorsed_{k}": v for k, v in c.endorsed_vecs.items()}}
    for name, vecs in stages.items():  # every profile and endorsement embedded from scratch
        t = time.perf_counter()
        vecs.flush()
        progress(f"embedded {name}: {vecs.embedded} texts in {time.perf_counter() - t:.1f} s, "
                 f"RSS {rss_mb():.0f} MB")
    c.ready()
    embed_s = time.perf_counter() - t2
    if cache is not None:
        cache.save()
    _set_encoder(c, use_encoder)  # questions and changed profiles: always the real model
    embedded = c.offer_vecs.embedded + c.need_vecs.embedded + c.mission_vecs.embedded
    endorsed = sum(v.embedded for v in c.endorsed_vecs.values())
    rss3 = rss_mb()
    t3 = time.perf_counter()
    c.space_index()
    spaces_s = time.perf_counter() - t3
    changed = _change_profiles(c, 1000)
    t4 = time.perf_counter()
    c.ready()
    reembed_s = time.perf_counter() - t4
    reembedded = c.offer_vecs.embedded + c.need_vecs.embedded + c.mission_vecs.embedded \
        - embedded
    out: dict[str, object] = {
        "vectors": vectors, "members": members, "spaces": len(c.spaces), "cities": cities,
        "profiles": len(c.profiles), "content_items": len(c.content), "seed": seed,
        "domains": domains, "popularity": popularity,
        "load_average_at_start": [round(x, 1) for x in load],
        "generate_s": round(gen_s, 1), "index_build_s": round(build_s, 2),
        "rss_after_generate_mb": round(rss1 - rss0), "rss_index_mb": round(rss2 - rss1),
        "embed_threads": int(os.environ.get("PASSPORT_EMBED_THREADS", "1")),
        "embed_all_s": round(embed_s, 1), "texts_embedded": embedded,
        "endorsements_embedded": endorsed, "rss_vectors_mb": round(rss3 - rss2),
        "space_profiles_s": round(spaces_s, 2),
        "changed_profiles": changed, "reembed_changed_s": round(reembed_s, 2),
        "texts_reembedded": reembedded, "rss_total_mb": round(rss_mb())}
    progress(f"re-embedded {reembedded} texts of {changed} changed profiles in {reembed_s:.1f} s")
    out["questions"] = routing(c, truth)
    progress(f"questions: {out['questions']}")
    out["people"] = people(c, truth, people_queries)
    out["missions"] = missions(c, truth)
    out["content"] = content(c, truth)
    out["rides"] = rides(c, truth)
    out["peak_rss_mb"] = round(peak_rss_mb())
    out["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    return out


def _change_profiles(c: Community, n: int) -> int:
    """n members edit their expertise (a word added): what a day of edits looks like."""
    changed = 0
    for did in sorted(c.profiles)[::max(1, len(c.profiles) // n)][:n]:
        p = c.profiles[did]
        if p.expertise:
            c.upsert(dataclasses.replace(p, expertise=p.expertise + " mentoring"))
            changed += 1
    return changed


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--members", type=int, default=120_000)
    ap.add_argument("--spaces", type=int, default=200)
    ap.add_argument("--cities", type=int, default=30)
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--domains", type=int, default=60)
    ap.add_argument("--popularity", type=float, default=0.0,
                    help="Zipf exponent of how many members are expert in each domain (0: even)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads for the embeddings")
    ap.add_argument("--vectors", default="model",
                    help="profile vectors: 'model' (embed all), 'random' (hash-seeded unit "
                         "vectors: latency only), or a cache file path (.npz) of model vectors")
    args = ap.parse_args()
    os.environ.setdefault("PASSPORT_EMBED_THREADS", str(args.threads))
    result = evaluate(args.members, args.spaces, args.cities, args.questions, args.people,
                      args.seed, args.domains, args.popularity, args.vectors)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
