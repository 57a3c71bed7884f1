"""The profile record: an organisation's public name, checked in the core like every body."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import keys
from ledger.bodies import validate_body
from ledger.chain import Author, ChainState, advance
from ledger.errors import RecordError
from ledger.profiles import profile_body, profile_of, same_name

GOOD: dict[str, Any] = {"v": 1, "kind": "space", "name": "Seats2meet Utrecht",
                        "city": "Utrecht", "description": "Coworking by the station",
                        "web": "https://seats2meet.com/utrecht"}


def test_a_full_profile_is_valid_and_round_trips() -> None:
    validate_body("profile", GOOD)
    shown = profile_of("did:key:z6Mk", "sha256:x", "2026-11-30T10:00:00Z", GOOD)
    assert shown.body() == GOOD
    assert validate_body("profile", {"v": 1, "kind": "service", "name": "RideShare"}) is None


@pytest.mark.parametrize(("change", "problem"), [
    ({"v": 2}, "body.v: unsupported profile version 2"),
    ({"v": True}, "body.v: unsupported"),
    ({"kind": "member"}, "body.kind: must be one of space, service, node"),
    ({"name": ""}, "body.name: must be a string of 1 to 64"),
    ({"name": "x" * 65}, "body.name: must be a string of 1 to 64"),
    ({"name": " RideShare"}, "body.name: must not start or end with a space"),
    ({"name": "Ride  Share"}, "two spaces"),
    ({"name": "Ride\u202eShare"}, "body.name: must not contain control or format"),
    ({"name": "Ride\nShare"}, "control or format"),
    ({"name": "did:key:z6MkhaXg"}, "body.name: must be a name, not a did"),
    ({"web": "javascript:alert(1)"}, "body.web: must be an http(s) address"),
    ({"web": "https://a.example/" + "x" * 200}, "body.web"),
    ({"description": "x" * 281}, "body.description: must be a string of 1 to 280"),
    ({"colour": "red"}, "body.colour: unknown key"),
])
def test_a_bad_profile_is_refused_naming_the_problem(change: dict[str, Any],
                                                     problem: str) -> None:
    with pytest.raises(RecordError, match=re.escape(problem)):
        validate_body("profile", {**GOOD, **change})


def test_a_missing_name_is_refused() -> None:
    body = dict(GOOD)
    del body["name"]
    with pytest.raises(RecordError, match=r"body\.name: is required"):
        validate_body("profile", body)


@given(st.text(min_size=1, max_size=64))
def test_a_name_is_either_refused_or_printed_exactly(name: str) -> None:
    """Whatever a signer tries, an accepted name is one line without hidden characters."""
    try:
        body = profile_body("service", name)
    except RecordError:
        return
    assert body["name"] == name == name.strip()
    assert name.isprintable()


def test_a_profile_on_a_chain_and_names_compared_without_case() -> None:
    key = keys.generate()
    author = Author(key, did=keys.did_of(key))
    record = author.next("profile", profile_body("service", "RideShare"))
    state = advance(ChainState.genesis(author.did), record)
    assert state.seq == 1
    assert same_name("RIDESHARE", "rideshare") and same_name("Ｒｉｄｅ", "ride")
    assert not same_name("RideShare", "Ride Share")
