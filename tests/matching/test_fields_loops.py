"""The matcher's pure parts: structured field values as people write them, and the loops'
state machine (questions, answers, endorsements, introductions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching import fields
from matching.fields import FieldError
from matching.loops import (
    LoopConflictError,
    LoopError,
    LoopForbiddenError,
    LoopNotFoundError,
    Loops,
    Topic,
)
from matching.model import norm_place, profile_from_granted
from wallet.presence import space_value

NOW = int(datetime(2026, 11, 30, 15, 0, tzinfo=UTC).timestamp() * 1000)  # a Monday


@pytest.mark.parametrize(("written", "expected"), [
    ("2026-12-03", "2026-12-03"), ("3/12/2026", "2026-12-03"), ("03.12.2026", "2026-12-03"),
    ("3 dec", "2026-12-03"), ("3 December 2026", "2026-12-03"), ("Dec 3", "2026-12-03"),
    ("3 décembre", "2026-12-03"), ("3 december", "2026-12-03"), ("3/12", "2026-12-03"),
    ("today", "2026-11-30"), ("tomorrow", "2026-12-01"), ("demain", "2026-12-01"),
    ("morgen", "2026-12-01"), ("friday", "2026-12-04"), ("vendredi", "2026-12-04"),
    ("Monday", "2026-11-30"), ("5 jan", "2027-01-05"),
])
def test_dates_as_people_write_them(written: str, expected: str) -> None:
    assert fields.parse_date(written, NOW) == expected


@pytest.mark.parametrize(("written", "why"), [
    ("someday", "is not a date"), ("2026-11-29", "in the past"), ("31/02/2027", "not a date"),
    ("2028-01-01", "more than a year ahead"), ("", "is not a date")])
def test_bad_dates_are_refused_with_the_reason(written: str, why: str) -> None:
    with pytest.raises(FieldError, match=why):
        fields.parse_date(written, NOW)


@given(st.integers(min_value=0, max_value=365))
def test_every_day_in_the_next_year_reads_back_in_each_written_form(days: int) -> None:
    day = date(2026, 11, 30) + timedelta(days=days)
    for written in (day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%d %B %Y"),
                    day.strftime("%b %d, %Y")):
        assert fields.parse_date(written, NOW) == day.isoformat()


def test_plan_and_trip_values_are_what_the_matcher_reads() -> None:
    plan = fields.plan_value("Bruxelles", "3 dec", NOW, origin="Gent")
    assert plan == {"city": "Bruxelles", "date": "2026-12-03", "from": "Gent"}
    trip = fields.trip_value("Gent", "Brussel", "3/12/2026", 3, NOW)
    assert trip == {"origin": "Gent", "destination": "Brussel", "date": "2026-12-03",
                    "seats": 3}
    profile = profile_from_granted("did:key:z6Mkx", {"plan": plan, "trip": trip}, {})
    assert profile.plan is not None and profile.plan.date == "2026-12-03"
    assert profile.trip is not None and profile.trip.seats == 3
    # City aliases: the rider's Bruxelles is the driver's Brussel.
    assert norm_place(profile.plan.destination) == profile.trip.destination == "brussels"
    with pytest.raises(FieldError, match="seats"):
        fields.trip_value("Gent", "Brussel", "tomorrow", 0, NOW)
    with pytest.raises(FieldError, match="same place"):
        fields.trip_value("Antwerpen", "antwerp", "tomorrow", 1, NOW)
    with pytest.raises(FieldError, match="empty"):
        fields.plan_value("  ", "tomorrow", NOW)


def test_space_and_leaving_values() -> None:
    value = space_value("did:key:z6Mkspace", "sha256:" + "a" * 64, NOW)  # as the wallet writes
    assert fields.checkin_of(value) == "sha256:" + "a" * 64
    assert fields.checkin_of({"space": "Hub Gent", "at": "2026-11-30T15:00:00Z"}) is None
    assert fields.leaving_value("9:05", NOW) == "09:05"
    with pytest.raises(FieldError, match="not a time of day"):
        fields.leaving_value("25:00", NOW)
    with pytest.raises(FieldError, match="in the past"):
        fields.leaving_value("2026-11-30T14:00:00Z", NOW)


A, B, C, D = (f"did:key:z6Mk{x}" for x in "abcd")


def question(loops: Loops, routed: tuple[str, ...] = (B, C)) -> Topic:
    topic = Topic("q-1", "helpful", A, "who knows VAT?", routed, NOW)
    loops.open(topic, "question q-1")
    return topic


def test_a_question_reaches_only_its_routed_members_and_is_answered_once() -> None:
    loops = Loops()
    question(loops)
    assert [t.id for t in loops.inbox(B)] == ["q-1"] and loops.inbox(D) == []
    with pytest.raises(LoopForbiddenError):
        loops.answer("q-1", D, "me!", NOW)
    reply = loops.answer("q-1", B, "file before the 20th", NOW)
    assert loops.inbox(B) == [] and [t.id for t in loops.answered(A)] == ["q-1"]
    with pytest.raises(LoopConflictError):
        loops.answer("q-1", B, "again", NOW)
    with pytest.raises(LoopError):
        loops.answer("q-1", C, "   ", NOW)
    with pytest.raises(LoopNotFoundError):
        loops.answer("q-2", B, "x", NOW)
    # Only the asker endorses, only an answerer, once; it waits for the subject's acceptance.
    with pytest.raises(LoopForbiddenError):
        loops.endorse("q-1", C, B, "sha256:x", NOW)
    with pytest.raises(LoopError, match="has not answered"):
        loops.endorse("q-1", A, C, "sha256:x", NOW)
    pending = loops.endorse("q-1", A, B, "sha256:x", NOW)
    assert (pending.subject, pending.text) == (B, "who knows VAT?")
    assert loops.topic("q-1").replies == [type(reply)(reply.id, "q-1", B, reply.text, NOW,
                                                      "sha256:x")]
    with pytest.raises(LoopConflictError):
        loops.endorse("q-1", A, B, "sha256:y", NOW)


def test_introductions_follow_a_match_and_end_in_both_grants() -> None:
    loops = Loops()
    question(loops)
    with pytest.raises(LoopForbiddenError):
        loops.introduce(A, D, "", "g-1", NOW)  # never matched
    assert loops.reach(A, B) == f"passport match intro {B}"
    intro = loops.introduce(B, A, "happy to help", "g-b", NOW)  # either side may ask
    assert loops.waiting_for(A) == [intro] and loops.waiting_for(B) == []
    assert loops.reach(A, B).startswith("they asked to meet you")
    assert loops.reach(B, A) == f"introduction {intro.id} waits for them"
    with pytest.raises(LoopConflictError):
        loops.introduce(A, B, "", "g-a", NOW)
    with pytest.raises(LoopForbiddenError):
        loops.answer_intro(intro.id, B, "g-b2")  # the requester cannot accept for the target
    with pytest.raises(LoopNotFoundError):
        loops.intro(intro.id, C)
    done = loops.answer_intro(intro.id, A, "g-a")
    assert (done.status, done.requester_grant, done.target_grant) == ("accepted", "g-b", "g-a")
    assert loops.reach(A, B).startswith("introduced") and loops.reach(B, A).startswith(
        "introduced")
    with pytest.raises(LoopConflictError):
        loops.answer_intro(intro.id, A, None)


def test_values_given_with_passport_set_are_checked_and_normalised() -> None:
    assert fields.check("plan", {"city": "Bruxelles", "date": "3 dec"}, NOW) == \
        {"city": "Bruxelles", "date": "2026-12-03"}
    assert fields.check("trip", {"origin": "Gent", "destination": "Brussel",
                                 "date": "tomorrow", "seats": 2}, NOW)["date"] == "2026-12-01"
    assert fields.check("leaving_at", "17h30", NOW) == "17:30"
    assert fields.check("space", " Hub  Gent ", NOW) == "Hub Gent"
    assert fields.check("expertise", {"any": ["shape"]}, NOW) == {"any": ["shape"]}
    for name, value, why in [
            ("plan", "Brussels on friday", "JSON object"),
            ("plan", {"city": "Gent", "date": "someday"}, "not a date"),
            ("trip", {"origin": "Gent", "destination": "Gent", "date": "tomorrow"}, "same place"),
            ("trip", {"origin": "Gent", "destination": "Namur", "date": "tomorrow",
                      "seats": "2"}, "whole number"),
            ("leaving_at", 1730, "is text"),
            ("space", {"space": "Hub", "at": "yesterday"}, "RFC 3339")]:
        with pytest.raises(FieldError, match=why):
            fields.check(name, value, NOW)
