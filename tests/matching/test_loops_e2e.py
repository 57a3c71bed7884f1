"""The matcher's loops closed end to end through the real `passport` CLI, against a real node and
a real matcher process: a question from ask to inbox to answer to helpful to an accepted
attestation, and an introduction that ends in a shared contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli import match_flows as member
from ledger import keys
from ledger.times import now_ms
from tests.api.conftest import Node, free_port
from tests.matching.support import (
    PASSPHRASE,
    Service,
    cli,
    cli_all,
    cli_fails,
    cli_text,
    eventually,
    wallet,
)
from wallet import keystore
from wallet.checkin import issue
from wallet.wallet import Wallet

DAY_MS = 86_400_000
QUESTION = "how do I file the quarterly VAT return as a freelancer?"


def test_a_question_goes_from_ask_to_an_accepted_helpful_attestation(
        world: tuple[Node, Service, Service], tmp_path: Path) -> None:
    node, matcher, _ = world
    via = ("--matcher", matcher.url)
    ann = wallet(tmp_path / "ann", node, name="Ann")
    people = {
        "bea": "bookkeeper: quarterly VAT return and invoices for freelancers",
        "cas": "accountant for freelancers, VAT and income tax returns",
        "dan": "tax advisor, VAT return filing for self-employed freelancers",
        "eve": "ceramics and pottery workshops",
    }
    members = {}
    for name, expertise in people.items():
        w = wallet(tmp_path / name, node, name=name.title())
        w.set("expertise", expertise)
        w.grant(matcher.did, ["name", "expertise"], "matching", now_ms() + DAY_MS)
        members[name] = w
    ann.grant(matcher.did, ["name"], "matching", now_ms() + DAY_MS)

    asked = cli(ann.home, node, "match", "ask", QUESTION, *via)
    qid = asked["id"]
    routed = [s["did"] for s in asked["suggestions"]]
    bea, eve = members["bea"], members["eve"]
    assert len(routed) == 3 and bea.did in routed and eve.did not in routed
    assert all(s["reach"] == f"passport match intro {s['did']}" for s in asked["suggestions"])

    # Each of the three finds the question in their inbox; eve, not routed, does not.
    by_did = {w.did: w for w in members.values()}
    boxes = cli_all(*[(by_did[d].home, node, ("match", "inbox", *via)) for d in routed],
                    (eve.home, node, ("match", "inbox", *via)))
    for box in boxes[:3]:
        assert [(q["question"], q["text"], q["asker"], q["reach"]) for q in box["questions"]] \
            == [(qid, QUESTION, ann.did, f"passport match intro {ann.did}")]
    assert boxes[3]["questions"] == []
    assert f"passport match answer {qid}" in cli_text(bea.home, node, "match", "inbox", *via)

    answered = cli(bea.home, node, "match", "answer", qid, "file it online before the 20th; "
                   "keep the invoices by quarter", *via)
    assert answered["question"] == qid and answered["by"] == bea.did
    assert cli(bea.home, node, "match", "inbox", *via)["questions"] == []  # answered: gone
    assert "not routed to you" in cli_fails(eve.home, node, "match", "answer", qid, "pots?",
                                            *via)

    # The asker sees the answer (in the inbox and in full), with how to reach the answerer.
    box = cli(ann.home, node, "match", "inbox", *via)
    assert [q["question"] for q in box["answered"]] == [qid]
    seen = cli(ann.home, node, "match", "answers", qid, *via)
    assert seen["text"] == QUESTION
    assert [(a["by"], a["helpful"]) for a in seen["answers"]] == [(bea.did, "")]
    assert seen["answers"][0]["text"].startswith("file it online")
    assert seen["answers"][0]["reach"] == f"passport match intro {bea.did}"
    shown = cli_text(ann.home, node, "match", "answers", qid, *via)
    assert f"passport match helpful {qid}" in shown and "file it online" in shown

    # Marking someone who did not answer writes nothing.
    ann.sync()
    length = len(ann.chain)
    assert "has not answered" in cli_fails(ann.home, node, "match", "helpful", qid, eve.did,
                                           *via)
    ann.sync()
    assert len(ann.chain) == length

    marked = cli(ann.home, node, "match", "helpful", qid, bea.did, *via)
    assert marked["about"] == QUESTION
    about_bea = cli(bea.home, node, "attestations")["attestations"]
    assert [(a["id"], a["accepted"]) for a in about_bea] == [(marked["attestation"], False)]
    claim = about_bea[0]["claim"]
    assert claim["type"] == "helpful" and claim["question"] == qid
    assert claim["about"] == QUESTION  # what the help was about travels with the attestation
    cli(bea.home, node, "accept", marked["attestation"])
    assert cli(bea.home, node, "attestations")["attestations"][0]["accepted"] is True
    answers = cli(ann.home, node, "match", "answers", qid, *via)["answers"]
    assert answers[0]["helpful"] == marked["attestation"]

    # Accepted help counts by meaning: bea now comes first for the question reworded.
    def helped() -> bool:
        with matcher.as_(ann) as c:
            again = c.ask("the VAT return every three months when you work for yourself")
        return bool(again.suggestions) and again.suggestions[0].did == bea.did and \
            "marked helpful" in again.suggestions[0].why
    assert eventually(helped)


def test_an_introduction_ends_in_a_shared_contact(world: tuple[Node, Service, Service],
                                                  tmp_path: Path) -> None:
    node, matcher, _ = world
    via = ("--matcher", matcher.url)
    desk = wallet(tmp_path / "desk", node, "space", "Hub Gent")
    ann = wallet(tmp_path / "ann", node, name="Ann")
    bob = wallet(tmp_path / "bob", node, name="Bob")
    stranger = wallet(tmp_path / "stranger", node, name="Stan")
    ann.set("looking_for", "a sparring partner for pricing my design studio")
    ann.set("contact", "ann@example.org")
    bob.set("can_help_with", "pricing and business models for design studios")
    bob.set("contact", "+32 470 12 34 56")
    joined = cli_all((ann.home, node, ("match", "join", *via)),
                     (bob.home, node, ("match", "join", *via)))
    assert all(j["new_grant"] for j in joined)
    # Both check in at the desk before the space lists itself in the matcher: it still counts.
    # (One after the other: two check-in answers at once can meet "database is locked" on the
    # node's SQLite, a node matter this test is not about.)
    for w in (ann, bob):
        cli(w.home, node, "match", "checkin", issue(desk).token(), *via)
    listed = cli(desk.home, node, "match", "space", "--name", "Hub Gent", "--city", "Gent",
                 *via)
    assert listed["present"] == 2

    meet = cli(ann.home, node, "match", "people", *via)["suggestions"]
    assert [(s["did"], s["reach"]) for s in meet] == [(bob.did, f"passport match intro {bob.did}")]
    assert "no contact" not in str(meet)

    # Nobody can ask for an introduction the matcher never made; nothing is granted then.
    ann.sync()
    length = len(ann.chain)
    assert "not suggested to you" in cli_fails(ann.home, node, "match", "intro", stranger.did,
                                               *via)
    ann.sync()
    assert len(ann.chain) == length

    asked = cli(ann.home, node, "match", "intro", bob.did, "--note", "coffee on Friday?", *via)
    iid = asked["intro"]
    assert asked["status"] == "requested" and asked["requester_grant"]
    box = cli(bob.home, node, "match", "inbox", *via)
    assert [(i["intro"], i["requester"], i["note"]) for i in box["intros"]] == \
        [(iid, ann.did, "coffee on Friday?")]
    waiting = cli(ann.home, node, "match", "intros", *via)["intros"]
    assert [(i["intro"], i["status"], i["contact"]) for i in waiting] == [(iid, "requested", None)]

    accepted = cli(bob.home, node, "match", "accept-intro", iid, *via)
    assert accepted["status"] == "accepted" and accepted["contact"] == "ann@example.org"
    mine = cli(ann.home, node, "match", "intros", *via)["intros"]
    assert [(i["intro"], i["status"], i["contact"]) for i in mine] == \
        [(iid, "accepted", "+32 470 12 34 56")]
    again = cli(ann.home, node, "match", "people", *via)["suggestions"]
    assert again[0]["did"] == bob.did and again[0]["reach"].startswith("introduced")
    # What a person reads says the same: how to reach them, their contact once introduced.
    people_text, intros_text = (cli_text(ann.home, node, "match", command, *via)
                                for command in ("people", "intros"))
    assert "introduced: their contact is granted to you" in people_text
    assert "+32 470 12 34 56" in intros_text and "accepted" in intros_text
    assert "(it is accepted)" in cli_fails(bob.home, node, "match", "accept-intro", iid, *via)


def reopened(w: Wallet, node: Node) -> Wallet:
    """The wallet as its files are now (after a `passport rotate-key` in another process)."""
    fresh = Wallet(w.home, keystore.load(w.home, PASSPHRASE), PASSPHRASE, node.url)
    fresh.sync()
    return fresh


def test_every_match_command_works_after_rotate_key(world: tuple[Node, Service, Service],
                                                    tmp_path: Path) -> None:
    """The matcher verifies with the node's rules: after `passport rotate-key` (its cached keys
    are stale) every `passport match` command still works, and so does a device key (`passport
    device add`) signing for the member; a failed join writes nothing."""
    node, matcher, _ = world
    via = ("--matcher", matcher.url)
    desk = wallet(tmp_path / "desk", node, "space", "Rotation Hub")
    ann = wallet(tmp_path / "ann", node, name="Ann")
    bob = wallet(tmp_path / "bob", node, name="Bob")
    cat = wallet(tmp_path / "cat", node, name="Cat")  # never rotates: the other side of declines
    cat.set("contact", "cat@example.org")
    cat.grant(matcher.did, ["name"], "matching", now_ms() + DAY_MS)
    ann.set("contact", "ann@example.org")
    ann.set("looking_for", "someone who knows ledger key rotation")
    bob.set("contact", "bob@example.org")
    bob.set("expertise", "key rotation in hash chained ledgers")
    bob.set("freelance", "key rotation audits")
    fields = ("--fields", "name,expertise,looking_for,space,freelance")
    cli_all((ann.home, node, ("match", "join", *fields, *via)),
            (bob.home, node, ("match", "join", *fields, *via)))
    cli_all((ann.home, node, ("rotate-key",)), (bob.home, node, ("rotate-key",)),
            (desk.home, node, ("rotate-key",)))
    desk = reopened(desk, node)

    ann.sync()
    length = len(ann.chain)
    down = f"http://127.0.0.1:{free_port()}"
    assert "cannot reach the matcher" in cli_fails(ann.home, node, "match", "join",
                                                   "--matcher", down)
    ann.sync()
    assert len(ann.chain) == length  # a failed join writes no grant

    # Commands that write to the same chain run one after the other; reads side by side.
    rejoined = cli(ann.home, node, "match", "join", *fields, *via)
    cli(ann.home, node, "match", "checkin", issue(desk).token(), *via)
    # A second device of ann's (added after the rotation) signs matcher calls as ann.
    phone = tmp_path / "phone"
    phone_store = keystore.create_device(ann.did)
    keystore.save(phone_store, phone, PASSPHRASE, profile="interactive")
    reopened(ann, node).add_device(keys.did_of(phone_store.signing_keys[0]), "phone")
    people, asked, listed = cli_all(
        (ann.home, node, ("match", "people", *via)),
        (ann.home, node, ("match", "ask", "who knows key rotation?", *via)),
        (desk.home, node, ("match", "space", "--name", "Rotation Hub", "--city", "Gent", *via)))
    assert listed["space"] == desk.did and listed["present"] == 1  # ann checked in there
    assert rejoined["new_grant"] is False  # the live grant is reused, not duplicated
    assert "suggestions" in people
    assert asked["suggestions"][0]["did"] == bob.did
    qid = asked["id"]
    box = cli(bob.home, node, "match", "inbox", *via)
    _, suggested, mission, rides, intros = cli_all(
        (bob.home, node, ("match", "answer", qid, "rotate to the pre-committed key", *via)),
        (ann.home, node, ("match", "suggest", *via)),
        (ann.home, node, ("match", "mission", "a key rotation audit", *via)),
        (ann.home, node, ("match", "rides", *via)),
        (ann.home, node, ("match", "intros", *via)))
    assert [q["question"] for q in box["questions"]] == [qid]
    assert "spaces" in suggested and rides == {"offers": [], "driving": []}
    assert intros == {"intros": []}
    assert mission["suggestions"][0]["did"] == bob.did
    answers = cli(phone, node, "match", "answers", qid, *via)  # only the asker may: ann
    assert [a["by"] for a in answers["answers"]] == [bob.did]
    marked = cli(ann.home, node, "match", "helpful", qid, bob.did, *via)
    fed = cli(ann.home, node, "match", "feedback", mission["id"], bob.did, "--rating", "5", *via)
    intro = cli(ann.home, node, "match", "intro", bob.did, *via)
    assert marked["about"] == "who knows key rotation?" and fed["mission"] == mission["id"]
    accepted = cli(bob.home, node, "match", "accept-intro", intro["intro"], *via)
    assert accepted["contact"] == "ann@example.org"
    with matcher.as_(cat) as c:  # cat's question goes to bob; cat asks to meet bob
        assert bob.did in [s.did for s in c.ask("who knows key rotation?").suggestions]
        cat_intro = member.introduce(cat, c, bob.did, "")
    # Rides (another service of the same program), with places in two languages.
    rides = world[2]
    by_rides = ("--matcher", rides.url)
    day = datetime.now(UTC) + timedelta(days=2)
    cli(ann.home, node, "match", "stay", "--until", "23:30")
    cli(ann.home, node, "match", "plan", "--to", "Gent", "--from", "Antwerpen", "--date",
        day.strftime("%d/%m/%Y"))
    cli(bob.home, node, "match", "trip", "--from", "Antwerp", "--to", "Ghent", "--date",
        day.strftime("%Y-%m-%d"))
    cat.set("trip", {"origin": "Antwerpen", "destination": "Gent",
                     "date": day.strftime("%Y-%m-%d"), "seats": 1})
    cat.grant(rides.did, ["name", "trip"], "rides", now_ms() + DAY_MS)
    cli_all((ann.home, node, ("match", "join", "--fields", "name,plan", *by_rides)),
            (bob.home, node, ("match", "join", "--fields", "name,trip", *by_rides)))
    offers = {o["driver"]: o for o in cli(ann.home, node, "match", "rides", *by_rides)["offers"]}
    assert {d: o["status"] for d, o in offers.items()} == {bob.did: "offered",
                                                           cat.did: "offered"}
    declined_ride, declined_intro = cli_all(
        (ann.home, node, ("match", "ride", "decline", offers[cat.did]["offer"], *by_rides)),
        (bob.home, node, ("match", "decline-intro", cat_intro.intro, *via)))
    assert declined_ride["status"] == "declined" and declined_intro["status"] == "declined"
    cli(ann.home, node, "match", "ride", "accept", offers[bob.did]["offer"], *by_rides)
    shared = cli(bob.home, node, "match", "ride", "share", offers[bob.did]["offer"], *by_rides)
    assert shared["status"] == "shared"

    left = cli(ann.home, node, "match", "leave", *via)
    assert len(left["revoked"]) == 1
