"""What every ranker answers (``Suggestion``, ``Answer``) and the small rules they share: scores
normalised per query, ties broken by id (so an answer depends only on the community, not on the
order it was built in), the granted fields a suggestion used, where a member is now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from matching.index import Community
from matching.model import Profile, Space


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


def norm(x: np.ndarray) -> np.ndarray:
    top = float(x.max()) if x.size else 0.0
    return x / top if top > 0 else x


def used(p: Profile, *names: str) -> tuple[str, ...]:
    return tuple(n for n in names if n in p.fields)


def ranked_by(score: np.ndarray, keys: Sequence[str], k: int) -> list[int]:
    """The k best indexes: by score (to 1e-6, so float noise cannot reorder), then by key."""
    rounded = np.round(score.astype(np.float64), 6)
    return sorted(range(len(keys)), key=lambda i: (-rounded[i], keys[i]))[:k]


def snippet(text: str, n: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[:n].rsplit(" ", 1)[0] + "…"


def where_now(c: Community, p: Profile, now_ms: int) -> Space | None:
    if p.presence is None or not p.presence.active(now_ms):
        return None
    return c.resolve_space(p.presence.space)
