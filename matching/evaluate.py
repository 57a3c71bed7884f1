"""Run a community described in a file through the matcher, as the service would see it.

The dataset format is docs/protocol.md §19 ("Evaluating on your own community"): spaces,
members with the values they granted (exactly as the wallet writes them) and when each was set,
accepted helpful marks, and queries.  Every member goes through ``profile_from_granted`` with
only the granted values, into the same ``Community`` and the same rank functions the service
calls; questions are noted as routed, as the service does, so load spreading is part of the
answer.  Pure apart from the clock used for timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ledger.errors import LedgerError
from ledger.times import parse_ts
from matching.embed import use_encoder
from matching.index import Community
from matching.model import Space, profile_from_granted
from matching.rank import (
    match_mission,
    people_to_meet,
    ride_matches,
    route_question,
    suggest_spaces,
)

KINDS = ("question", "people", "mission", "ride", "spaces")
K = {"question": 3, "people": 5, "mission": 5, "spaces": 3}


class DatasetError(ValueError):
    """The dataset does not follow the format; the message names the place and the problem."""


def _ts(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise DatasetError(f"{where}: expected an RFC 3339 time, got {value!r}")
    try:
        return parse_ts(value)
    except (LedgerError, ValueError) as e:
        raise DatasetError(f"{where}: not an RFC 3339 time: {value!r}") from e


def _list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise DatasetError(f"'{key}' must be a list of objects")
    return items


def _str(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: '{key}' must be a non-empty string")
    return value


def build(data: Mapping[str, Any],
          encoder: Callable[[Sequence[str]], np.ndarray] = use_encoder) -> Community:
    """The community the matcher would hold: granted values only, through the sync's path."""
    if not isinstance(data, Mapping):
        raise DatasetError("the dataset must be a JSON object")
    spaces = []
    for n, s in enumerate(_list(data, "spaces")):
        where = f"spaces[{n}]"
        tags = s.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise DatasetError(f"{where}: 'tags' must be a list of strings")
        spaces.append(Space(_str(s, "id", where), _str(s, "name", where),
                            str(s.get("city", "")), tuple(tags)))
    c = Community(spaces, encoder=encoder)
    for n, m in enumerate(_list(data, "members")):
        where = f"members[{n}]"
        did = _str(m, "did", where)
        granted = m.get("granted", {})
        set_at = m.get("set_at", {})
        if not isinstance(granted, Mapping) or not isinstance(set_at, Mapping):
            raise DatasetError(f"{where}: 'granted' and 'set_at' must be objects")
        set_ms = {f: _ts(v, f"{where}.set_at.{f}") for f, v in set_at.items()}
        if granted:
            c.upsert(profile_from_granted(did, granted, set_ms))
    for n, h in enumerate(_list(data, "helpful")):
        where = f"helpful[{n}]"
        c.add_helpful(_str(h, "answerer", where), _str(h, "question", where),
                      _ts(h.get("at"), f"{where}.at"))
    return c


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return round(s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))], 2)


def answer_one(c: Community, q: Mapping[str, Any], now_ms: int, where: str) -> list[str]:
    """The ranked ids the service would answer for one query."""
    kind = q.get("kind")
    if kind == "question":
        got = route_question(c, _str(q, "asker", where), _str(q, "text", where), now_ms,
                             K["question"])
        routed = [s.did for s in got.suggestions]
        c.note_routed(routed)
        return routed
    if kind == "people":
        return [s.did for s in people_to_meet(c, _str(q, "asker", where), now_ms,
                                              K["people"]).suggestions]
    if kind == "mission":
        company = q.get("asker") if isinstance(q.get("asker"), str) else ""
        return [s.did for s in match_mission(c, str(company), _str(q, "text", where),
                                             K["mission"]).suggestions]
    if kind == "ride":
        return [p.did for p, _ in ride_matches(c, _str(q, "asker", where))]
    if kind == "spaces":
        return [s.did for s in suggest_spaces(c, _str(q, "asker", where), now_ms,
                                              K["spaces"]).suggestions]
    raise DatasetError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")


def run(data: Mapping[str, Any],
        encoder: Callable[[Sequence[str]], np.ndarray] = use_encoder) -> dict[str, Any]:
    """``{"answers": {query id: [did or space id, ...]}, "timings": {...}}``."""
    t0 = time.perf_counter()
    c = build(data, encoder)
    t1 = time.perf_counter()
    c.ready()
    c.space_index()
    t2 = time.perf_counter()
    now_ms = _ts(data.get("now"), "now")
    answers: dict[str, list[str]] = {}
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    for n, q in enumerate(_list(data, "queries")):
        where = f"queries[{n}]"
        qid = _str(q, "id", where)
        if qid in answers:
            raise DatasetError(f"{where}: the id {qid!r} is used twice")
        start = time.perf_counter()
        answers[qid] = answer_one(c, q, now_ms, where)
        times[str(q.get("kind"))].append((time.perf_counter() - start) * 1000)
    timings: dict[str, Any] = {
        "members": len(c.profiles), "build_s": round(t1 - t0, 3),
        "embed_s": round(t2 - t1, 3), "texts_embedded": c.offer_vecs.embedded
        + c.need_vecs.embedded + c.mission_vecs.embedded}
    for kind, xs in times.items():
        if xs:
            timings[kind] = {"n": len(xs), "p50_ms": _pct(xs, 50), "p99_ms": _pct(xs, 99)}
    return {"answers": answers, "timings": timings}
