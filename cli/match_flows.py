"""What a member does with the matcher: the wallet's records and the matcher's calls, in the
order that keeps the member's passport consistent with what the matcher was told.  It sits in
the CLI's layer because it is the one place that uses both the wallet and the matcher's client
(``wallet`` and ``matching`` do not import each other); the rules it applies are theirs:
``wallet.contacts`` (whom a contact is granted to, for how long), ``wallet.grants.leave``,
``wallet.presence`` (the ``space`` value), and the matcher's own checks.

The rule throughout: check with the matcher first (a signed call that can be refused), write to
the member's chain second, tell the matcher last.  So a refused or unreachable matcher leaves no
grant and no attestation behind; a grant that is written reaches the matcher through the node's
consent feed even if the last call is lost.  The commands parse, call these, and print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.records import Record
from matching.client import Intro, Joined, MatcherClient, MatcherError, RideOffer
from wallet import grants, presence
from wallet.attest import attest
from wallet.contacts import contact_of, grant_contact, grant_once
from wallet.errors import UsageError
from wallet.wallet import Wallet


def join(wallet: Wallet, client: MatcherClient, fields: list[str],
         expires_ms: int) -> tuple[Joined, str, bool]:
    """Join: the joined answer, the grant id, and whether the grant is new (a live grant of
    these fields to the matcher is reused).  Nothing is written unless the matcher accepts the
    member's signed request first."""
    matcher = client.health().did
    client.join()  # refused (signature, keys) or unreachable: raise before any grant
    gid, new = grant_once(wallet, matcher, fields, "matching", expires_ms)
    return client.join(), gid, new


def leave(wallet: Wallet, client: MatcherClient) -> list[str]:
    """Revoke every live grant to the matcher, then tell it; the grants revoked."""
    revoked = grants.leave(wallet, client.health().did)
    client.leave()
    return revoked


def checkin(wallet: Wallet, client: MatcherClient, token: str) -> tuple[Record, str, bool]:
    """Check in at a desk and set ``space`` (sealed to whom the member granted it); the record,
    the space, and whether the matcher was told now (else its poll picks it up)."""
    record, space = presence.check_in_here(wallet, token)
    try:
        client.join()
    except MatcherError:
        return record, space, False
    return record, space, True


def accept_ride(wallet: Wallet, client: MatcherClient, offer: str) -> RideOffer:
    """The rider accepts an open offer: their contact is granted to the driver."""
    mine = {o.offer: o for o in client.ride_offers()}
    found = mine.get(offer)
    if found is None or found.status != "offered":
        raise UsageError(f"no open offer {offer} (see 'passport match rides')")
    gid = grant_contact(wallet, found.driver, f"ride {offer}")
    return client.ride_accept(offer, gid)


def share_ride(wallet: Wallet, client: MatcherClient, offer: str) -> RideOffer:
    """The driver confirms a ride the rider accepted: their contact is granted back."""
    driving = {o.offer: o for o in client.ride_requests()}
    found = driving.get(offer)
    if found is None or found.status != "accepted":
        raise UsageError(f"no accepted ride {offer} to confirm (see 'passport match rides')")
    gid = grant_contact(wallet, found.rider, f"ride {offer}")
    return client.ride_share(offer, gid)


def mark_helpful(wallet: Wallet, client: MatcherClient, question: str,
                 answerer: str) -> tuple[Record, str]:
    """Attest that ``answerer``'s answer to the member's question helped, with what the
    question was about; the answerer may accept it.  The attestation and the question text."""
    answers = client.answers(question)
    given = [a for a in answers.answers if a.by == answerer]
    if not given:
        raise UsageError(f"{answerer} has not answered {question} (see "
                         f"'passport match answers {question}')")
    if given[0].helpful:
        raise UsageError(f"you already marked that answer helpful ({given[0].helpful})")
    claim = {"type": "helpful", "question": question, "about": answers.text,
             "answer": given[0].answer}
    record = attest(wallet, answerer, claim)
    client.helpful(question, answerer, record.id)
    return record, answers.text


def mission_feedback(wallet: Wallet, client: MatcherClient, mission: str, freelancer: str,
                     *, rating: int, comment: str) -> Record:
    """Feedback at a mission's end: an attestation about the freelancer, with the mission."""
    if not 1 <= rating <= 5:
        raise UsageError("--rating is 1 to 5")
    about = client.topic(mission)
    record = attest(wallet, freelancer, {"type": "mission-feedback", "mission": mission,
                                         "about": about, "rating": rating, "comment": comment})
    client.feedback(mission, freelancer, record.id)
    return record


def introduce(wallet: Wallet, client: MatcherClient, target: str, note: str) -> Intro:
    """Ask to be introduced to someone the matcher matched you with; your contact is granted
    to them (they see it once they accept and grant theirs)."""
    client.matched(target)  # refused before any grant if the matcher never matched you
    gid = grant_contact(wallet, target, "introduction")
    return client.introduce(target, note, gid)


def accept_intro(wallet: Wallet, client: MatcherClient, intro: str) -> Intro:
    found = client.intro(intro)
    if found.target != wallet.did or found.status != "requested":
        raise UsageError(f"introduction {intro} does not wait for you (it is {found.status})")
    gid = grant_contact(wallet, found.requester, f"introduction {intro}")
    return client.accept_intro(intro, gid)


@dataclass(frozen=True)
class Reached:
    intro: Intro
    other: str
    contact: Any | None  # their contact, read through their grant, once they granted it


def intros(wallet: Wallet, client: MatcherClient) -> list[Reached]:
    """The member's introductions; for accepted ones, the other's contact read on the node."""
    out = []
    for i in client.intros():
        other = i.other(wallet.did)
        contact = contact_of(wallet, other) if i.status == "accepted" else None
        out.append(Reached(i, other, contact))
    return out
