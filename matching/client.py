"""The one way to talk to a matcher (or ride service): one method per route, typed results.

Every call but ``health`` is signed (RFC 9421, the node's profile: ``passport_api.signing``)
with the caller's key in force and their chain's did as ``keyid``.  A refusal is the matcher's
RFC 9457 problem, raised as a ``MatcherRefusedError`` subclass chosen by the problem's stable
type (never by its wording); a matcher that cannot be reached is ``MatcherUnreachableError``.
Results are frozen dataclasses; nothing outside this module sees the wire format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import nacl.signing

from ledger.errors import PassportError
from passport_api.signing import sign_request

ENV_MATCHER = "PASSPORT_MATCHER"
DEFAULT_MATCHER = "http://127.0.0.1:8500"


# --- errors -----------------------------------------------------------------------------------

class MatcherError(PassportError):
    """Root of what talking to a matcher can raise (one line a member can read)."""

    code = "matcher-error"


class MatcherUnreachableError(MatcherError):
    code = "matcher-unreachable"


class MatcherRefusedError(MatcherError):
    """The matcher answered with a problem: ``status``, ``problem`` and its stable ``type``."""

    code = "matcher-refused"

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.type = str(problem.get("type", "")).rsplit("/", 1)[-1]
        super().__init__(f"the matcher refused: {problem.get('detail') or status} "
                         f"[{self.type or status}]")


class MatcherUnauthorizedError(MatcherRefusedError):
    """The signature was refused (stale, replayed, or not under a key in force)."""

    code = "matcher-unauthorized"


class MatcherNotFoundError(MatcherRefusedError):
    code = "matcher-not-found"


class MatcherConflictError(MatcherRefusedError):
    """The action does not apply in the item's state (an offer already accepted, ...)."""

    code = "matcher-conflict"


class MatcherForbiddenError(MatcherRefusedError):
    """The item exists, but this caller may not act on it (not routed to you, not yours)."""

    code = "matcher-forbidden"


class MatcherBadRequestError(MatcherRefusedError):
    code = "matcher-bad-request"


_BY_TYPE: dict[str, type[MatcherRefusedError]] = {
    "unauthorized": MatcherUnauthorizedError, "not-found": MatcherNotFoundError,
    "conflict": MatcherConflictError, "forbidden": MatcherForbiddenError,
    "bad-request": MatcherBadRequestError}


def refusal(status: int, problem: Mapping[str, Any]) -> MatcherRefusedError:
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    return _BY_TYPE.get(kind, MatcherRefusedError)(status, problem)


# --- results ----------------------------------------------------------------------------------

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


def _p(segment: str) -> str:
    return quote(segment, safe="")


# --- the client -------------------------------------------------------------------------------

class MatcherClient:
    """Signed calls to one matcher as ``did``, signing with ``signing_key`` (the key in force)."""

    def __init__(self, base_url: str, signing_key: nacl.signing.SigningKey, did: str, *,
                 timeout: float = 30.0) -> None:
        self.url = base_url.rstrip("/")
        self.did = did
        self._key = signing_key
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MatcherClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, *, signed: bool = True,
              params: Mapping[str, Any] | None = None) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        query = urlencode(dict(params or {}))
        headers = {"content-type": "application/json"} if body is not None else {}
        if signed:
            headers.update(sign_request(self._key, method, path, query, raw, keyid=self.did))
        try:
            response = self._http.request(method, path + ("?" + query if query else ""),
                                          content=raw, headers=headers)
        except httpx.TransportError as e:
            raise MatcherUnreachableError(f"cannot reach the matcher at {self.url} "
                                     f"({type(e).__name__}); is 'passport match serve' running, "
                                     "or is --matcher right?") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:200]}
            if not isinstance(problem, dict):
                problem = {"detail": str(problem)[:200]}
            raise refusal(response.status_code, problem)
        return response.json()

    # members
    def health(self) -> Health:
        d = self._call("GET", "/v1/health", signed=False)
        return Health(str(d["did"]), str(d["node"]), int(d["watched"]), int(d["profiles"]),
                      int(d["spaces"]), float(d["poll_took_ms"]), int(d["reads"]))

    def is_ready(self) -> bool:
        """Whether the matcher answers its health route now (start-up waits poll this)."""
        try:
            self.health()
        except MatcherError:
            return False
        return True

    def join(self) -> Joined:
        d = self._call("POST", "/v1/members")
        return Joined(str(d["did"]), tuple(d["fields_used"]))

    def leave(self) -> None:
        self._call("DELETE", "/v1/members")

    # spaces and content
    def list_space(self, name: str, city: str, tags: list[str]) -> SpaceListed:
        d = self._call("POST", "/v1/spaces", {"name": name, "city": city, "tags": tags})
        return SpaceListed(str(d["space"]), str(d["name"]), str(d["city"]), int(d["present"]))

    def post_content(self, title: str, tags: list[str], space: str | None = None) -> str:
        return str(self._call("POST", "/v1/content",
                              {"title": title, "tags": tags, "space": space})["content"])

    def suggestions(self, k: int = 3) -> tuple[Suggestions, Suggestions]:
        d = self._call("GET", "/v1/suggestions", params={"k": k})
        return Suggestions.of(d["spaces"]), Suggestions.of(d["content"])

    # people, questions, missions
    def people(self, k: int = 5) -> Suggestions:
        return Suggestions.of(self._call("GET", "/v1/people", params={"k": k}))

    def met(self, did: str) -> None:
        self._call("POST", "/v1/met", {"did": did})

    def ask(self, text: str, k: int = 3) -> Suggestions:
        return Suggestions.of(self._call("POST", "/v1/questions", {"text": text, "k": k}),
                              "question")

    def inbox(self) -> Inbox:
        d = self._call("GET", "/v1/inbox")
        return Inbox(tuple(Question.of(q) for q in d["questions"]),
                     tuple(Intro.of(i) for i in d["intros"]),
                     tuple(Question.of(q) for q in d["answered"]))

    def answer(self, question: str, text: str) -> AnswerGiven:
        return AnswerGiven.of(self._call("POST", f"/v1/questions/{_p(question)}/answers",
                                         {"text": text}))

    def answers(self, question: str) -> Answers:
        d = self._call("GET", f"/v1/questions/{_p(question)}/answers")
        return Answers(str(d["question"]), str(d["text"]),
                       tuple(AnswerGiven.of(a) for a in d["answers"]))

    def helpful(self, question: str, subject: str, attestation: str) -> Endorsed:
        d = self._call("POST", f"/v1/questions/{_p(question)}/helpful",
                       {"subject": subject, "attestation": attestation})
        return Endorsed(str(d["attestation"]), str(d["counted"]))

    def mission(self, text: str, k: int = 5) -> Suggestions:
        return Suggestions.of(self._call("POST", "/v1/missions", {"text": text, "k": k}),
                              "mission")

    def feedback(self, mission: str, subject: str, attestation: str) -> Endorsed:
        d = self._call("POST", f"/v1/missions/{_p(mission)}/feedback",
                       {"subject": subject, "attestation": attestation})
        return Endorsed(str(d["attestation"]), str(d["counted"]))

    def topic(self, ref: str) -> str:
        """The text of one of my questions or missions (what a helpful mark is about)."""
        return str(self._call("GET", f"/v1/topics/{_p(ref)}")["text"])

    # introductions
    def matched(self, other: str) -> str:
        """What the matcher matched me with ``other`` on; ``MatcherForbiddenError`` if never."""
        return str(self._call("GET", f"/v1/matched/{_p(other)}")["context"])

    def introduce(self, target: str, note: str, grant: str) -> Intro:
        return Intro.of(self._call("POST", "/v1/intros",
                                   {"target": target, "note": note, "grant": grant}))

    def intros(self) -> tuple[Intro, ...]:
        return tuple(Intro.of(i) for i in self._call("GET", "/v1/intros")["intros"])

    def intro(self, intro: str) -> Intro:
        return Intro.of(self._call("GET", f"/v1/intros/{_p(intro)}"))

    def accept_intro(self, intro: str, grant: str) -> Intro:
        return Intro.of(self._call("POST", f"/v1/intros/{_p(intro)}/accept", {"grant": grant}))

    def decline_intro(self, intro: str) -> Intro:
        return Intro.of(self._call("POST", f"/v1/intros/{_p(intro)}/decline"))

    # rides
    def ride_offers(self) -> tuple[RideOffer, ...]:
        return tuple(RideOffer.of(o) for o in self._call("GET", "/v1/rides/offers")["offers"])

    def ride_requests(self) -> tuple[RideOffer, ...]:
        return tuple(RideOffer.of(o)
                     for o in self._call("GET", "/v1/rides/requests")["offers"])

    def ride_accept(self, offer: str, grant: str) -> RideOffer:
        return RideOffer.of(self._call("POST", f"/v1/rides/offers/{_p(offer)}/accept",
                                       {"grant": grant}))

    def ride_decline(self, offer: str) -> RideOffer:
        return RideOffer.of(self._call("POST", f"/v1/rides/offers/{_p(offer)}/decline"))

    def ride_share(self, offer: str, grant: str) -> RideOffer:
        return RideOffer.of(self._call("POST", f"/v1/rides/offers/{_p(offer)}/share",
                                       {"grant": grant}))
