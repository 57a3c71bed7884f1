"""``MatcherClient``: one method per route of a matcher (or ride service), typed results.

Every call but ``health`` is signed (RFC 9421, the node's profile: ``passport_api.signing``)
with the caller's key in force and their chain's did as ``keyid``.  The only module that speaks
HTTP to a matcher.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import nacl.signing

from matching.client.errors import MatcherError, MatcherUnreachableError, refusal
from matching.client.results import (
    AnswerGiven,
    Answers,
    Endorsed,
    Forgotten,
    Health,
    Inbox,
    Intro,
    Joined,
    Question,
    RideOffer,
    SpaceListed,
    Suggestions,
)
from passport_api.signing import sign_request

ENV_MATCHER = "PASSPORT_MATCHER"
DEFAULT_MATCHER = "http://127.0.0.1:8500"


def _p(segment: str) -> str:
    return quote(segment, safe="")


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

    def forget(self) -> Forgotten:
        """Delete what I sent the matcher (questions, answers, matches, ...): the counts."""
        return Forgotten.of(self._call("DELETE", "/v1/history"))

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
