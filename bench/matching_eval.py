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
The metrics, each beside its baseline, are in ``bench/matching_metrics.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.matching_metrics import NOW_MS, content, missions, people, rides, routing
from bench.report import print_result
from matching.embed import DIM, Vectors, text_key, use_encoder
from matching.index import Community
from matching.synth import generate


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
    print_result(result, args.json)


if __name__ == "__main__":
    main()
