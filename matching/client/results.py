"""What a matcher answers, as frozen values (nothing outside ``matching.client`` sees the wire
format)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Consent:
    matcher: str
    rule: str
    polled: int

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Consent | None:
        c = data.get("consent")
        return None if c is None else cls(str(c["matcher"]), str(c["rule"]), int(c["polled"]))


@dataclass(frozen=True)
class Suggestion:
    did: str
    name: str
    score: float
    why: str
    fields_used: tuple[str, ...]
    reach: str  # how to reach them: the intro to ask for, or that their contact is granted
    extra: Mapping[str, Any]

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Suggestion:
        known = {"did", "name", "score", "why", "fields_used", "reach"}
        return cls(str(d["did"]), str(d["name"]), float(d["score"]), str(d["why"]),
                   tuple(d.get("fields_used", ())), str(d.get("reach", "")),
                   {k: v for k, v in d.items() if k not in known})

    def json(self) -> dict[str, Any]:
        return {"did": self.did, "name": self.name, "score": self.score, "why": self.why,
                "fields_used": list(self.fields_used), "reach": self.reach, **self.extra}


@dataclass(frozen=True)
class Suggestions:
    """An answer: ranked suggestions, a note when it is empty or partial, its ``id`` if any."""

    suggestions: tuple[Suggestion, ...]
    note: str
    id: str = ""  # the question (q-...) or mission (m-...) this answer opened
    consent: Consent | None = None

    @classmethod
    def of(cls, d: Mapping[str, Any], id_key: str = "") -> Suggestions:
        return cls(tuple(Suggestion.of(s) for s in d.get("suggestions", ())),
                   str(d.get("note", "")), str(d.get(id_key, "")) if id_key else "",
                   Consent.of(d))

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"suggestions": [s.json() for s in self.suggestions],
                               "note": self.note}
        if self.id:
            out["id"] = self.id
        if self.consent is not None:
            out["consent"] = {"matcher": self.consent.matcher, "rule": self.consent.rule,
                              "polled": self.consent.polled}
        return out


@dataclass(frozen=True)
class Health:
    did: str
    node: str
    watched: int
    profiles: int
    spaces: int
    poll_took_ms: float
    reads: int  # scoped reads the matcher made on the node (each leaves a receipt)


@dataclass(frozen=True)
class Joined:
    did: str
    fields_used: tuple[str, ...]


@dataclass(frozen=True)
class Forgotten:
    """What a forget deleted and what stays for other members, per kind (counts)."""

    did: str
    deleted: Mapping[str, int]
    kept: Mapping[str, int]
    note: str

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Forgotten:
        return cls(str(d["did"]), {str(k): int(v) for k, v in d["deleted"].items()},
                   {str(k): int(v) for k, v in d["kept"].items()}, str(d.get("note", "")))

    def json(self) -> dict[str, Any]:
        return {"did": self.did, "deleted": dict(self.deleted), "kept": dict(self.kept),
                "note": self.note}


@dataclass(frozen=True)
class SpaceListed:
    space: str
    name: str
    city: str
    present: int  # members already checked in there (before or after it listed itself)


@dataclass(frozen=True)
class Endorsed:
    attestation: str
    counted: str


@dataclass(frozen=True)
class Question:
    """A question as a routed member or its asker sees it."""

    question: str
    asker: str
    asker_name: str
    text: str
    at: int
    answered: bool  # by the member looking at it (inbox), or by anyone (asker)
    reach: str  # how the member can reach the asker

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Question:
        return cls(str(d["question"]), str(d["asker"]), str(d.get("asker_name", "")),
                   str(d["text"]), int(d["at"]), bool(d["answered"]), str(d.get("reach", "")))


@dataclass(frozen=True)
class AnswerGiven:
    answer: str
    question: str
    by: str
    name: str
    text: str
    at: int
    helpful: str  # the helpful attestation's id, or ""
    reach: str

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> AnswerGiven:
        return cls(str(d["answer"]), str(d["question"]), str(d["by"]), str(d.get("name", "")),
                   str(d["text"]), int(d["at"]), str(d.get("helpful") or ""),
                   str(d.get("reach", "")))


@dataclass(frozen=True)
class Answers:
    question: str
    text: str
    answers: tuple[AnswerGiven, ...]


@dataclass(frozen=True)
class Intro:
    """An introduction: ``requester`` asked to be introduced to ``target``; both grant contact."""

    intro: str
    requester: str
    requester_name: str
    target: str
    target_name: str
    context: str  # what the matcher matched them on (people, a question, a mission)
    note: str
    status: str  # requested, accepted, declined
    requester_grant: str
    target_grant: str
    at: int

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Intro:
        return cls(str(d["intro"]), str(d["requester"]), str(d.get("requester_name", "")),
                   str(d["target"]), str(d.get("target_name", "")), str(d.get("context", "")),
                   str(d.get("note", "")), str(d["status"]), str(d.get("requester_grant") or ""),
                   str(d.get("target_grant") or ""), int(d["at"]))

    def other(self, me: str) -> str:
        return self.target if self.requester == me else self.requester


@dataclass(frozen=True)
class Inbox:
    questions: tuple[Question, ...]  # routed to me, not answered by me yet
    intros: tuple[Intro, ...]  # asked of me, waiting for my answer
    answered: tuple[Question, ...]  # my own questions that have answers


@dataclass(frozen=True)
class RideOffer:
    offer: str
    rider: str
    driver: str
    origin: str
    destination: str
    date: str
    status: str
    rider_grant: str
    driver_grant: str

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> RideOffer:
        return cls(str(d["offer"]), str(d["rider"]), str(d["driver"]), str(d["origin"]),
                   str(d["destination"]), str(d["date"]), str(d["status"]),
                   str(d.get("rider_grant") or ""), str(d.get("driver_grant") or ""))
