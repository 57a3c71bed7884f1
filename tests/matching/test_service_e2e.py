"""The matcher and a ride service as real processes (`passport match serve`), each with its own
key, against a real node (`passport node serve`, SQLite): consent bounds every answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ledger.times import format_ts, now_ms
from matching.client import (
    MatcherBadRequestError,
    MatcherClient,
    MatcherForbiddenError,
    MatcherNotFoundError,
    MatcherUnauthorizedError,
    MatcherUnreachableError,
    Suggestions,
)
from passport_api.signing import MAX_SKEW_S, sign_request
from tests.api.conftest import Node, free_port
from tests.matching.support import Service, cli, cli_fails, cli_text, eventually, wallet
from wallet.attest import accept, attest
from wallet.checkin import issue
from wallet.errors import NodeRefusedError


def test_matcher_answers_on_granted_fields_only(world: tuple[Node, Service, Service],
                                                 tmp_path: Path) -> None:
    node, matcher, _ = world
    desk = wallet(tmp_path / "desk", node, "space", "Seats2meet Utrecht")
    with matcher.as_(desk) as c:
        c.list_space("Seats2meet Utrecht", "Utrecht", ["startups"])
    alice = wallet(tmp_path / "alice", node, name="Alice")
    bob = wallet(tmp_path / "bob", node, name="Bob")
    carol = wallet(tmp_path / "carol", node, name="Carol")
    alice.set("looking_for", "help with the rust borrow checker")
    alice.set("can_help_with", "ux design reviews")
    bob.set("can_help_with", "rust borrow checker and compilers")
    bob.set("looking_for", "ux design feedback")
    bob.set("leaving_at", format_ts(now_ms() + 3 * 3_600_000))
    bob.set("freelance", "rust compiler missions")
    carol.set("expertise", "rust borrow checker wizard")  # set, but never granted
    carol.set("freelance", "rust compiler missions")  # set, but never granted
    fields = ["name", "looking_for", "can_help_with", "expertise", "space", "leaving_at",
              "freelance"]
    grants = {}
    for w in (alice, bob):
        grants[w.did] = w.grant(matcher.did, fields, "matching", now_ms() + 86_400_000)
    carol.grant(matcher.did, ["name", "space"], "matching", now_ms() + 86_400_000)
    for w in (alice, carol):  # Bob never joins: the matcher finds his grant in its consent feed
        with matcher.as_(w) as c:
            joined = c.join()
        assert "expertise" not in joined.fields_used or w is not carol

    # Presence is a granted field: Alice checks in through the CLI, Bob and Carol by hand.
    cli(alice.home, node, "match", "checkin", issue(desk).token(), "--matcher", matcher.url)
    for w in (bob, carol):
        w.set("space", {"space": desk.did, "at": format_ts(now_ms())})

    def people() -> Suggestions:
        with matcher.as_(alice) as c:
            return c.people()

    met = eventually(lambda: [s for s in people().suggestions if s.did == bob.did])
    assert met, people()
    first = people().suggestions
    assert first[0].did == bob.did
    assert "rust" in first[0].why and "not met before" in first[0].why
    assert "until" in first[0].why
    assert first[0].reach == f"passport match intro {bob.did}"  # how to reach him
    carol_seen = [s for s in first if s.did == carol.did]
    assert carol_seen and "expertise" not in carol_seen[0].fields_used
    consent = people().consent
    assert consent is not None and "only fields each member granted" in consent.rule

    # A question goes to Bob, never to Carol, whose expertise was not granted.
    with matcher.as_(alice) as c:
        asked = c.ask("who knows the rust borrow checker?")
    assert asked.suggestions[0].did == bob.did
    assert carol.did not in [s.did for s in asked.suggestions]

    # Content: a space posts an event; Alice's granted needs bring it to her.
    with matcher.as_(desk) as c:
        c.post_content("Borrow checker clinic", ["rust"], desk.did)
    with matcher.as_(alice) as c:
        spaces, content = c.suggestions()
    assert [s.name for s in content.suggestions] == ["Borrow checker clinic"]
    assert spaces.suggestions[0].did == desk.did

    # Missions: a company's need goes to Bob (granted `freelance`), never to Carol (not granted);
    # the company's feedback counts once Bob accepts it.
    acme = wallet(tmp_path / "acme", node, name="Acme")
    with matcher.as_(acme) as c:
        mission = c.mission("rust compiler work")
    assert [s.did for s in mission.suggestions] == [bob.did]
    assert "freelance" in mission.suggestions[0].fields_used
    feedback = attest(acme, bob.did, {"type": "mission", "mission": mission.id})
    with matcher.as_(acme) as c:
        c.feedback(mission.id, bob.did, feedback.id)
    bob.sync()
    accept(bob, feedback.id)

    def feedback_shown() -> bool:
        with matcher.as_(acme) as c:
            again = c.mission("rust compiler")
        return bool(again.suggestions) and "accepted feedback" in again.suggestions[0].why
    assert eventually(feedback_shown)

    # Helpful: Bob answers, Alice attests, the matcher counts it once Bob accepts it.
    with matcher.as_(bob) as c:
        c.answer(asked.id, "lifetimes: read the error from the bottom up")
    alice.sync()
    rec = attest(alice, bob.did, {"type": "helpful", "question": asked.id})
    with matcher.as_(alice) as c:
        c.helpful(asked.id, bob.did, rec.id)
    bob.sync()
    accept(bob, rec.id)

    def helpful_shown() -> bool:
        with matcher.as_(alice) as c:
            again = c.ask("rust borrow checker")
        return bool(again.suggestions) and "marked helpful" in again.suggestions[0].why
    assert eventually(helpful_shown)

    # Revoke: Bob is gone from the very next answer (re-read before answering).
    bob.sync()
    bob.revoke(grants[bob.did])
    with matcher.as_(alice) as c:
        after = c.ask("rust borrow checker")
        meet = c.people()
    assert bob.did not in [s.did for s in after.suggestions]
    assert bob.did not in [s.did for s in meet.suggestions]

    assert [s.did for s in meet.suggestions] == [carol.did]
    unsigned = httpx.get(matcher.url + "/v1/people")
    assert unsigned.status_code == 401  # a signed request only
    assert unsigned.headers["content-type"] == "application/problem+json"
    assert unsigned.json()["type"] == "/v1/problems/unauthorized"


def test_rides_from_the_cli_for_both_sides_contacts_only_by_grants(
        world: tuple[Node, Service, Service], tmp_path: Path) -> None:
    """Plan and trip set with the typed commands (dates and places as people write them), both
    sides list rides from the CLI, listing writes nothing, and contacts travel only by grants."""
    node, _, rides = world
    day = datetime.fromtimestamp(now_ms() / 1000 + 3 * 86_400, UTC)
    date = day.strftime("%Y-%m-%d")
    rider = wallet(tmp_path / "rider", node, name="Rita")
    driver = wallet(tmp_path / "driver", node, name="Dirk")
    other = wallet(tmp_path / "other", node, name="Otto")
    rider.set("contact", "rita@example.org")
    driver.set("contact", "+31 6 1234 5678")
    via = ("--matcher", rides.url)
    planned = cli(rider.home, node, "match", "plan", "--to", "Amsterdam", "--from", "Utrecht",
                  "--date", day.strftime("%d/%m/%Y"))
    assert planned["value"] == {"city": "Amsterdam", "date": date, "from": "Utrecht"}
    tripped = cli(driver.home, node, "match", "trip", "--from", "utrecht", "--to", " AMSTERDAM",
                  "--date", f"{day.day} {day.strftime('%b').lower()}", "--seats", "2")
    assert tripped["value"] == {"origin": "utrecht", "destination": "AMSTERDAM", "date": date,
                                "seats": 2}
    assert "not a date" in cli_fails(other.home, node, "set", "trip", "--json-value",
                                     '{"origin": "Utrecht", "destination": "Rotterdam", '
                                     '"date": "someday", "seats": 3}')
    assert cli(other.home, node, "set", "trip", "--json-value",
               '{"origin": "Utrecht", "destination": "Rotterdam", "date": "' + date
               + '", "seats": 3}')["field"] == "trip"
    cli(rider.home, node, "match", "join", "--fields", "name,plan", *via)
    cli(driver.home, node, "match", "join", "--fields", "name,trip", *via)
    other.sync()  # its trip was set through the CLI
    other.grant(rides.did, ["name", "trip"], "rides", now_ms() + 86_400_000)
    with rides.as_(other) as c:
        c.join()
    listed = cli(rider.home, node, "match", "rides", *via)
    offers = listed["offers"]
    assert [(o["driver"], o["status"]) for o in offers] == [(driver.did, "offered")]
    with pytest.raises(NodeRefusedError):
        rider.read(driver.did, ["contact"])  # no contact before accepting
    oid = offers[0]["offer"]
    assert f"passport match ride accept {oid}" in cli_text(rider.home, node, "match", "rides",
                                                           *via)
    accepted = cli(rider.home, node, "match", "ride", "accept", oid, *via)
    assert accepted["status"] == "accepted" and accepted["rider_grant"]
    driver.sync()
    before = len(driver.chain)
    seen = cli(driver.home, node, "match", "rides", *via)
    assert [(o["offer"], o["status"]) for o in seen["driving"]] == [(oid, "accepted")]
    driver.sync()
    assert len(driver.chain) == before  # listing rides wrote nothing
    shared = cli(driver.home, node, "match", "ride", "share", oid, *via)
    assert (shared["offer"], shared["status"]) == (oid, "shared")
    again = cli(driver.home, node, "match", "rides", *via)
    assert [(o["offer"], o["status"]) for o in again["driving"]] == [(oid, "shared")]
    rider.sync()
    driver.sync()
    assert rider.read(driver.did, ["contact"])["fields"]["contact"]["value"] == "+31 6 1234 5678"
    assert driver.read(rider.did, ["contact"])["fields"]["contact"]["value"] == \
        "rita@example.org"
    with pytest.raises(NodeRefusedError):
        other.read(rider.did, ["contact"])


def test_the_matcher_checks_requests_with_the_nodes_rules_and_answers_typed_problems(
        world: tuple[Node, Service, Service], tmp_path: Path) -> None:
    node, matcher, _ = world
    mia = wallet(tmp_path / "mia", node, name="Mia")
    other = wallet(tmp_path / "other", node, name="Olaf")

    def signed_get(created: int, ttl_s: int) -> dict[str, str]:
        return sign_request(mia.author.signing_key, "GET", "/v1/intros", "", b"",
                            created=created, ttl_s=ttl_s, keyid=mia.did)

    # The node's skew window (MAX_SKEW_S, 300 s), not a tighter one of the matcher's own.
    now = int(time.time())
    late = signed_get(now - (MAX_SKEW_S - 60), MAX_SKEW_S - 10)
    assert httpx.get(matcher.url + "/v1/intros", headers=late).status_code == 200
    replayed = httpx.get(matcher.url + "/v1/intros", headers=late)
    assert replayed.status_code == 401 and "already used" in replayed.json()["detail"]
    stale = httpx.get(matcher.url + "/v1/intros",
                      headers=signed_get(now - (MAX_SKEW_S + 60), MAX_SKEW_S))
    assert stale.status_code == 401 and stale.json()["type"] == "/v1/problems/unauthorized"

    # Refusals arrive as typed errors, chosen by the problem's type.
    with MatcherClient(matcher.url, other.author.signing_key, mia.did) as forged, \
            pytest.raises(MatcherUnauthorizedError):
        forged.intros()
    with matcher.as_(mia) as c:
        with pytest.raises(MatcherNotFoundError):
            c.answer("q-none", "an answer to nothing")
        with pytest.raises(MatcherForbiddenError):
            c.matched(other.did)  # never matched: no introduction, no grant
        with pytest.raises(MatcherBadRequestError, match="text"):
            c.ask("")
    with MatcherClient(f"http://127.0.0.1:{free_port()}", mia.author.signing_key,
                       mia.did) as down, pytest.raises(MatcherUnreachableError):
        down.health()
