"""ledger.consent's view of a member's chain: grants and values read from their records,
anomalies (a reused grant id, a stray or second revoke) ignored and reported, records of another
author or out of chain order refused, the read plan and the live grants and readers."""

from __future__ import annotations

import pytest

from ledger.consent import Grant, PassportView, Reason, authorize, live_grants, live_readers
from ledger.errors import ChainError
from ledger.times import parse_ts
from tests.ledger.consent_support import MEMBER, S1, S2, S3, T0, Member, reason
from tests.ledger.support import TS, seeded

# --- the view ------------------------------------------------------------------------------------


def test_grant_is_read_from_its_record() -> None:
    m = Member()
    m.set("city", "Lisbon")
    rec = m.grant("grant_city", S1, ["skills", "city"], expires_ms=T0 + 1234,
                  purpose="find a mentor")
    g = m.view().grants["grant_city"]
    assert g == Grant(grant_id="grant_city", grantee=S1, fields=("skills", "city"),
                      purpose="find a mentor", expires_ms=T0 + 1234, record_id=rec.id,
                      seq=rec.seq, ts_ms=parse_ts(TS), keys={"city": rec.body["keys"]["city"]})
    assert not g.revoked and g.live(T0) and g.covers("skills") and not g.covers("email")
    assert (g.status(T0 + 1233), g.status(T0 + 1234)) == ("live", "expired")


def test_values_and_fields() -> None:
    m = Member()
    a = m.set("city", "Lisbon")
    m.set("skills", ["go"])
    m.clear("skills")
    m.clear("email")  # never set: cleared all the same
    view = m.view()
    assert view.fields == ("city",)
    assert dict(view.values) == {"city": a, "skills": None, "email": None}
    assert (view.value("city"), view.value("skills"), view.value("bio")) == (a, None, None)
    assert view.seq == 4


def test_a_reused_grant_id_is_ignored_and_reported() -> None:
    m = Member()
    first = m.grant("grant_city", S1, ["city"])
    m.revoke("grant_city")
    again = m.grant("grant_city", S1, ["city", "skills"])  # must not revive the revoked grant
    view = m.view()
    assert view.grants["grant_city"].record_id == first.id
    assert view.grants["grant_city"].revoked
    assert reason(m.ask(S1, "city")["city"]) == "revoked"
    assert reason(m.ask(S1, "skills")["skills"]) == "no-grant"
    [anomaly] = view.anomalies
    assert (anomaly.code, anomaly.seq, anomaly.record_id, anomaly.grant_id) == (
        "grant-id-reused", again.seq, again.id, "grant_city")
    assert f"first used at seq {first.seq}" in anomaly.message


def test_revoking_an_unknown_or_future_grant_is_ignored_and_reported() -> None:
    m = Member()
    early = m.revoke("grant_city")
    m.set("city", "Lisbon", readers=[S1])
    m.grant("grant_city", S1, ["city"])
    stray = m.revoke("grant_nope")
    view = m.view()
    assert [(a.code, a.record_id, a.grant_id) for a in view.anomalies] == [
        ("unknown-grant", early.id, "grant_city"), ("unknown-grant", stray.id, "grant_nope")]
    assert not view.grants["grant_city"].revoked
    assert reason(m.ask(S1, "city")["city"]) == "allowed"


def test_a_second_revoke_is_ignored_and_reported() -> None:
    m = Member()
    m.grant("grant_city", S1, ["city"])
    first = m.revoke("grant_city")
    second = m.revoke("grant_city")
    view = m.view()
    assert view.grants["grant_city"].revoked_record_id == first.id
    assert [(a.code, a.record_id) for a in view.anomalies] == [("already-revoked", second.id)]


def test_records_of_another_author_are_refused() -> None:
    m, stranger = Member(), Member(seeded(70))
    m.grant("grant_city", S1, ["city"])
    theirs = stranger.revoke("grant_city")
    view = m.view()
    with pytest.raises(ChainError, match="belongs to"):
        view.apply(theirs)
    assert not view.grants["grant_city"].revoked and view.seq == 1
    with pytest.raises(ChainError, match="belongs to"):
        PassportView.from_records([*m.records, theirs])


def test_records_out_of_chain_order_are_refused() -> None:
    m = Member()
    m.grant("grant_city", S1, ["city"])
    m.revoke("grant_city")
    with pytest.raises(ChainError, match="chain order"):
        PassportView.from_records(reversed(m.records))
    view = m.view()
    with pytest.raises(ChainError, match="chain order"):
        view.apply(m.records[1])


def test_other_record_types_are_skipped() -> None:
    m = Member()
    m.set("city", "Lisbon", readers=[S1])
    for t in ("checkin", "attest", "attest.accept", "device.add"):
        m.other(t)
    m.grant("grant_city", S1, ["city"])
    full, consent_only = m.view(), PassportView.from_records(
        r for r in m.records if r.type.startswith(("passport.", "consent.")))
    assert full.seq == 6 and consent_only.seq == 6
    assert dict(full.grants) == dict(consent_only.grants)
    assert dict(full.values) == dict(consent_only.values) and not full.anomalies
    assert reason(authorize(full, S1, ["city"], T0).decisions[0]) == "allowed"


def test_an_empty_view_needs_a_member() -> None:
    with pytest.raises(ValueError, match="no member"):
        PassportView.from_records([])
    view = PassportView.from_records([], member=MEMBER)
    plan = authorize(view, S1, ["city"], T0)
    assert (plan.member, view.seq, reason(plan.decisions[0])) == (MEMBER, 0, "no-grant")


def test_read_plan_helpers() -> None:
    m = Member()
    m.set("city", "Lisbon", readers=[S1])
    m.set("skills", ["go"], readers=[S1])
    m.grant("grant_city", S1, ["city", "skills"])
    plan = authorize(m.view(), S1, ["email", "skills", "city", "email", "skills"], T0 + 7)
    assert (plan.member, plan.grantee, plan.now_ms) == (MEMBER, S1, T0 + 7)
    assert [d.field for d in plan.decisions] == ["email", "skills", "city"]
    assert [d.field for d in plan.allowed] == ["skills", "city"]
    assert [(d.field, d.reason) for d in plan.refused] == [("email", Reason.NOT_GRANTED)]
    assert plan.decision("city").allowed and not plan.decision("email").allowed
    with pytest.raises(KeyError):
        plan.decision("bio")
    assert authorize(m.view(), S1, [], T0).decisions == ()


def test_live_grants_and_live_readers() -> None:
    m = Member()
    m.grant("grant_aa", S1, ["city"])
    m.grant("grant_bb", S2, ["city", "skills"], expires_ms=T0 + 10)
    m.grant("grant_cc", S3, ["city"])
    m.revoke("grant_cc")
    m.grant("grant_dd", S1, ["skills"])
    m.grant("grant_ee", MEMBER, ["city"])  # to themself: never a reader of their own value
    view = m.view()
    assert [g.grant_id for g in live_grants(view, T0)] == ["grant_aa", "grant_bb", "grant_dd",
                                                           "grant_ee"]
    assert [g.grant_id for g in live_grants(view, T0 + 10)] == ["grant_aa", "grant_dd", "grant_ee"]
    assert [g.grant_id for g in live_grants(view, T0, grantee=S1)] == ["grant_aa", "grant_dd"]
    assert [g.grant_id for g in view.grants_to(S3)] == ["grant_cc"]
    assert live_readers(view, "city", T0) == sorted([S1, S2])
    assert live_readers(view, "city", T0 + 10) == [S1]
    assert live_readers(view, "skills", T0) == sorted([S1, S2])
    assert live_readers(view, "email", T0) == []
