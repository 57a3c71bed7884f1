"""A member's request to be forgotten: what the matcher deletes of what they sent it, and what
stays because another member relies on it (pure: no I/O; callers pass today's date).

``plan`` reads the loops, rides and community and returns a ``Forgetting`` without changing
them; the service writes its rows to the state file first and applies it to memory only once
they are kept (``Matcher.forget``), so a refused write changes nothing and a retry finds the
same things to delete.  The rules (docs/security.md, "What it keeps after a revoke or a leave"):

- the member's questions and missions go whole: their text, whom they were routed to, the
  answers others gave to them, and the endorsements (waiting or counted in helpful memory)
  that were about them;
- an answer the member wrote on another's question becomes a tombstone in the asker's thread
  (same place and time, no author, no text, no helpful mark), so the asker sees that an answer
  was withdrawn rather than a thread that silently changed; the member no longer appears as
  routed on others' questions (their inbox empties);
- whom the matcher matched them with, whom they met, endorsements about them (waiting or
  counted), introductions not accepted and ride offers not agreed go;
- an accepted introduction stays for the other member (both granted contact; the grant ids
  are how they find each other) with the member's note and any quote of the member's
  question removed; a ride agreement (accepted or shared) for today or later stays, the
  other member plans on it; one whose date has passed goes.

Attestations (helpful marks, mission feedback) are records on members' chains, on the ledger:
the matcher never held them and cannot delete them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from matching.index import Community, Endorsement
from matching.loops import Intro, Loops, Pending, Reply, Topic
from matching.rides import RideBook

WITHDRAWN = "withdrawn by its author"
CONTEXT_GONE = {"helpful": "a question withdrawn by its asker",
                "mission": "a mission withdrawn by its poster"}
KEPT_RIDES = ("accepted", "shared")


def withdrawn(reply: Reply, n: int) -> Reply:
    """The tombstone of the ``n``-th answer of a thread: its id no longer derives from the
    author's did (``Loops.answer`` hashes it), so it cannot be matched back to them."""
    rid = "a-" + hashlib.sha256(f"{reply.question}|withdrawn|{n}".encode()).hexdigest()[:12]
    return Reply(rid, reply.question, "", WITHDRAWN, reply.at_ms)


def is_withdrawn(reply: Reply) -> bool:
    return not reply.by


@dataclass
class Forgetting:
    """What one forget deletes and rewrites, and the counts the member is told."""

    did: str
    topics_gone: list[Topic] = field(default_factory=list)
    topics_changed: list[Topic] = field(default_factory=list)  # as they are after the forget
    pending_gone: list[Pending] = field(default_factory=list)
    endorsed_gone: list[Endorsement] = field(default_factory=list)
    intros_gone: list[str] = field(default_factory=list)
    intros_kept: list[Intro] = field(default_factory=list)  # as they are after the forget
    offers_gone: list[str] = field(default_factory=list)
    offers_kept: int = 0
    matched: int = 0  # members the matcher had matched the member with
    met: int = 0  # members the member said they met
    withdrawn_answers: int = 0
    unrouted: int = 0  # others' questions and missions no longer routed to the member

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind, what went and what stays (the member's answer)."""
        own = self.topics_gone
        return {
            "deleted": {
                "questions": sum(1 for t in own if t.kind == "helpful"),
                "missions": sum(1 for t in own if t.kind == "mission"),
                "answers_to_them": sum(len(t.replies) for t in own),
                "answers_withdrawn": self.withdrawn_answers,
                "routed_to_you": self.unrouted,
                "matches": self.matched,
                "met": self.met,
                "endorsements_waiting": len(self.pending_gone),
                "endorsements_counted": len(self.endorsed_gone),
                "introductions": len(self.intros_gone),
                "ride_offers": len(self.offers_gone)},
            "kept": {"introductions_accepted": len(self.intros_kept),
                     "rides_agreed": self.offers_kept}}

    def apply(self, loops: Loops, rides: RideBook, c: Community) -> None:
        """The same change in memory (after the state file kept it)."""
        who = self.did
        for t in self.topics_gone:
            loops.topics.pop(t.id, None)
        for t in self.topics_changed:
            loops.topics[t.id] = t
        gone = {p.attestation for p in self.pending_gone}
        loops.pending = [p for p in loops.pending if p.attestation not in gone]
        for e in self.endorsed_gone:
            c.remove_endorsement(e.kind, e.did, e.text, e.at_ms)
        for iid in self.intros_gone:
            loops.intros.pop(iid, None)
        for i in self.intros_kept:
            loops.intros[i.id] = i
        for oid in self.offers_gone:
            rides.offers.pop(oid, None)
        for other in loops.matched.pop(who, {}):
            loops.matched.get(other, {}).pop(who, None)
        for other in c.met.pop(who, set()):
            c.met.get(other, set()).discard(who)
        c.load.pop(who, None)
        c.drop_queries(t.text for t in self.topics_gone)


def _norm(text: str) -> str:
    return " ".join(text.split())


def plan(did: str, loops: Loops, rides: RideBook, c: Community, today: str) -> Forgetting:
    """What forgetting ``did`` deletes and rewrites; reads, changes nothing.  ``today`` is the
    UTC date (``YYYY-MM-DD``) a ride agreement must not be before to stay."""
    f = Forgetting(did)
    f.topics_gone = [t for t in loops.topics.values() if t.by == did]
    # what an endorsement from one of the member's topics looks like: kind, text, subject
    marks = {(t.kind, _norm(t.text), s) for t in f.topics_gone
             for s in (*t.routed, *(r.by for r in t.replies))}
    for t in loops.topics.values():
        if t.by == did:
            continue
        replies = [withdrawn(r, n) if r.by == did else r for n, r in enumerate(t.replies)]
        if did in t.routed or replies != t.replies:
            f.unrouted += did in t.routed
            f.withdrawn_answers += sum(1 for r in t.replies if r.by == did)
            f.topics_changed.append(replace(t, routed=tuple(x for x in t.routed if x != did),
                                            replies=replies))
    f.pending_gone = [p for p in loops.pending
                      if p.subject == did or (p.kind, _norm(p.text), p.subject) in marks]
    f.endorsed_gone = [e for e in c.endorsements_held()
                       if e.did == did or (e.kind, e.text, e.did) in marks]
    own = {t.id: t.kind for t in f.topics_gone}
    for i in loops.intros.values():
        if did not in (i.requester, i.target):
            continue
        if i.status != "accepted":
            f.intros_gone.append(i.id)
            continue
        f.intros_kept.append(replace(i, note="" if i.requester == did else i.note,
                                     context=_context_without(i.context, own)))
    for o in rides.offers.values():
        if did not in (o.rider, o.driver):
            continue
        if o.status in KEPT_RIDES and o.date >= today:
            f.offers_kept += 1
        else:
            f.offers_gone.append(o.id)
    f.matched = len(loops.matched.get(did, {}))
    f.met = len(c.met.get(did, set()))
    return f


def _context_without(context: str, own: Mapping[str, str]) -> str:
    """An introduction's context (``question q-…: <its text>``) without the text of a topic
    being forgotten."""
    head = context.split(":", 1)[0].split()
    kind = own.get(head[-1]) if len(head) == 2 else None  # "question q-…"
    return CONTEXT_GONE[kind] if kind is not None else context
