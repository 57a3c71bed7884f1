"""The matcher's loops as a small state machine (pure: no I/O, no clock; callers pass the time).

A question is routed to up to three members, who see it in their inbox and may answer it; the
asker reads the answers and marks one helpful (an ``attest`` on the asker's chain, checked by
the service).  A mission's company likewise leaves feedback.  An endorsement counts, in the
matcher's helpful memory, once its subject accepts the attestation (``Pending`` until then).

Whoever the matcher matched (a person to meet, a routed answerer, a freelancer, an answerer who
answered) may ask for an introduction to the other, granting their own ``contact`` to them; the
other side accepts by granting theirs back.  Only then can each read the other's contact on the
node; the matcher never reads or relays a contact itself (``MATCH_FIELDS`` excludes it).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Literal

from ledger.errors import PassportError

IntroStatus = Literal["requested", "accepted", "declined"]
MAX_ANSWER_CHARS = 4000
MAX_NOTE_CHARS = 500


class LoopError(PassportError):
    """An action on a question, mission or introduction that does not apply."""

    kind = "bad-request"


class LoopNotFoundError(LoopError):
    kind = "not-found"


class LoopForbiddenError(LoopError):
    kind = "forbidden"


class LoopConflictError(LoopError):
    kind = "conflict"


@dataclass(frozen=True, slots=True)
class Reply:
    id: str
    question: str
    by: str
    text: str
    at_ms: int
    helpful: str = ""  # the asker's helpful attestation about this answer


@dataclass
class Topic:
    """A question (``q-``) or a mission (``m-``): who asked, what, and who it went to."""

    id: str
    kind: Literal["helpful", "mission"]
    by: str
    text: str
    routed: tuple[str, ...]
    at_ms: int
    replies: list[Reply] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Pending:
    """An endorsement waiting for its subject's ``attest.accept``."""

    kind: Literal["helpful", "mission"]
    subject: str
    attestation: str
    text: str  # what it was about: the question or mission, fed to helpful memory by meaning
    at_ms: int  # when the asker marked it


@dataclass(frozen=True, slots=True)
class Intro:
    id: str
    requester: str
    target: str
    context: str
    note: str
    at_ms: int
    requester_grant: str
    status: IntroStatus = "requested"
    target_grant: str = ""


def intro_id(requester: str, target: str) -> str:
    a, b = sorted((requester, target))
    return "i-" + hashlib.sha256(f"{a}|{b}".encode()).hexdigest()[:16]


class Loops:
    def __init__(self) -> None:
        self.topics: dict[str, Topic] = {}
        self.pending: list[Pending] = []
        self.intros: dict[str, Intro] = {}
        # who the matcher matched with whom, and on what: the pairs that may be introduced
        self.matched: dict[str, dict[str, str]] = defaultdict(dict)

    # --- questions and missions ------------------------------------------------------------

    def open(self, topic: Topic, context: str) -> None:
        self.topics[topic.id] = topic
        self.note_matched(topic.by, topic.routed, context)

    def note_matched(self, who: str, others: tuple[str, ...] | list[str], context: str) -> None:
        for other in others:
            if other != who:
                self.matched[who].setdefault(other, context)
                self.matched[other].setdefault(who, context)

    def topic(self, tid: str) -> Topic:
        found = self.topics.get(tid)
        if found is None:
            raise LoopNotFoundError(f"no question or mission {tid}")
        return found

    def own(self, tid: str, who: str) -> Topic:
        topic = self.topic(tid)
        if topic.by != who:
            raise LoopForbiddenError(f"{tid} was not asked by you")
        return topic

    def inbox(self, who: str) -> list[Topic]:
        """Questions routed to ``who`` that they have not answered yet, oldest first."""
        return [t for t in self.topics.values() if t.kind == "helpful" and who in t.routed
                and not any(r.by == who for r in t.replies)]

    def answered(self, who: str) -> list[Topic]:
        """``who``'s own questions that have at least one answer."""
        return [t for t in self.topics.values() if t.by == who and t.replies]

    def answer(self, tid: str, who: str, text: str, at_ms: int) -> Reply:
        topic = self.topic(tid)
        if topic.kind != "helpful":
            raise LoopConflictError(f"{tid} is a mission; it takes feedback, not answers")
        if who not in topic.routed:
            raise LoopForbiddenError(f"{tid} was not routed to you")
        text = text.strip()
        if not text or len(text) > MAX_ANSWER_CHARS:
            raise LoopError(f"an answer is 1 to {MAX_ANSWER_CHARS} characters")
        if any(r.by == who for r in topic.replies):
            raise LoopConflictError(f"you already answered {tid}")
        reply = Reply("a-" + hashlib.sha256(f"{tid}|{who}".encode()).hexdigest()[:12], tid, who,
                      text, at_ms)
        topic.replies.append(reply)
        return reply

    def endorse(self, tid: str, who: str, subject: str, attestation: str,
                at_ms: int) -> Pending:
        """The asker's endorsement of ``subject`` for ``tid``: an answerer of the question, or
        a freelancer the mission was routed to; it counts once the subject accepts it."""
        topic = self.own(tid, who)
        if topic.kind == "helpful":
            replies = [r for r in topic.replies if r.by and r.by == subject]  # not withdrawn
            if not replies:
                raise LoopError(f"{subject} has not answered {tid}")
            if replies[0].helpful:
                raise LoopConflictError(f"you already marked {subject}'s answer helpful")
            idx = topic.replies.index(replies[0])
            topic.replies[idx] = replace(replies[0], helpful=attestation)
        elif subject not in topic.routed:
            raise LoopError(f"{subject} was not suggested for {tid}")
        pending = Pending(topic.kind, subject, attestation, topic.text, at_ms)
        self.pending.append(pending)
        return pending

    # --- introductions ---------------------------------------------------------------------

    def context(self, requester: str, target: str) -> str:
        """What the matcher matched the two on; ``LoopForbiddenError`` if it never matched them."""
        if target == requester:
            raise LoopError("you cannot be introduced to yourself")
        context = self.matched.get(requester, {}).get(target)
        if context is None:
            raise LoopForbiddenError(
                f"{target} was not suggested to you, nor you to them; introductions "
                            "follow a match (people, a question, a mission)")
        return context

    def introduce(self, requester: str, target: str, note: str, grant: str,
                  at_ms: int) -> Intro:
        context = self.context(requester, target)
        if len(note) > MAX_NOTE_CHARS:
            raise LoopError(f"a note is at most {MAX_NOTE_CHARS} characters")
        iid = intro_id(requester, target)
        old = self.intros.get(iid)
        if old is not None and old.status != "declined":
            raise LoopConflictError(
                f"an introduction between you already exists ({iid}, {old.status})")
        intro = Intro(iid, requester, target, context, note.strip(), at_ms, grant)
        self.intros[iid] = intro
        return intro

    def intro(self, iid: str, who: str) -> Intro:
        found = self.intros.get(iid)
        if found is None or who not in (found.requester, found.target):
            raise LoopNotFoundError(f"no introduction {iid} of yours")
        return found

    def answer_intro(self, iid: str, who: str, grant: str | None) -> Intro:
        """The target accepts (with the grant of their contact) or declines (``None``)."""
        intro = self.intro(iid, who)
        if intro.target != who:
            raise LoopForbiddenError(f"{iid} waits for {intro.target}, not for you")
        if intro.status != "requested":
            raise LoopConflictError(f"introduction {iid} is {intro.status}")
        done = replace(intro, status="accepted", target_grant=grant) if grant is not None \
            else replace(intro, status="declined")
        self.intros[iid] = done
        return done

    def intros_of(self, who: str) -> list[Intro]:
        return [i for i in self.intros.values() if who in (i.requester, i.target)]

    def waiting_for(self, who: str) -> list[Intro]:
        return [i for i in self.intros.values() if i.target == who and i.status == "requested"]

    def reach(self, who: str, other: str) -> str:
        """How ``who`` can reach ``other`` now, in one phrase a member reads."""
        intro = self.intros.get(intro_id(who, other))
        if intro is None or intro.status == "declined":
            return f"passport match intro {other}"
        if intro.status == "accepted":
            return "introduced: their contact is granted to you (passport match intros)"
        if intro.target == who:
            return f"they asked to meet you: passport match accept-intro {intro.id}"
        return f"introduction {intro.id} waits for them"
