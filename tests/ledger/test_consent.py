"""ledger.consent: who may read which field, over real signed chains with real sealed values.

Every allowed read is opened end to end (unwrap the served key with the grantee's key, decrypt
the blob, check the commitment).  The view itself (grants, values, anomalies) is in
``test_consent_view.py``; the property against a reference model in ``test_consent_model.py``.
"""

from __future__ import annotations

import pytest

from ledger import seal
from ledger.consent import Allowed, Reason, Refused, live_readers
from ledger.errors import SealError
from ledger.times import format_ts
from tests.ledger.consent_support import S1, S2, S3, SERVICE_KEYS, T0, Member, reason

# --- where the key comes from ------------------------------------------------------------------


def test_value_set_after_grant_is_read_with_the_key_in_its_recipients() -> None:
    m = Member()
    g = m.grant("grant_city", S1, ["city"])  # nothing to wrap yet
    assert g.body["keys"] == {}
    s = m.set("city", "Lisbon", readers=[S1])
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Allowed)
    assert (d.grant_id, d.record.id, d.key_record_id) == ("grant_city", s.id, s.id)
    assert d.wrapped_key == s.body["recipients"][S1]
    assert m.open(d, S1) == "Lisbon"


def test_grant_after_value_is_read_with_the_key_in_the_grant() -> None:
    m = Member()
    s = m.set("city", "Porto")
    g = m.grant("grant_city", S1, ["city"])
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Allowed)
    assert (d.record.id, d.key_record_id, d.wrapped_key) == (s.id, g.id, g.body["keys"]["city"])
    assert m.open(d, S1) == "Porto"


def test_a_grant_key_for_an_older_value_is_not_served() -> None:
    m = Member()
    m.set("city", "Porto")
    m.grant("grant_city", S1, ["city"])  # wraps Porto's key
    m.set("city", "Berlin")  # a wallet bug: S1 left out of the recipients
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Refused)
    assert (d.reason, d.grant_id) == (Reason.NO_KEY, "grant_city")
    assert "no key for this value" in d.message
    m.grant("grant_city2", S1, ["city"])  # granting again wraps Berlin's key
    assert m.open(m.ask(S1, "city")["city"], S1) == "Berlin"


def test_grant_without_keys_after_value_is_no_key() -> None:
    m = Member()
    m.set("city", "Porto")
    m.grant("grant_city", S1, ["city"], keys_for=[])
    assert reason(m.ask(S1, "city")["city"]) == "no-key"


def test_key_from_an_earlier_grant_to_the_same_grantee_after_the_value() -> None:
    m = Member()
    m.set("city", "Porto")
    first = m.grant("grant_one", S1, ["city"])
    m.revoke("grant_one")
    m.grant("grant_two", S1, ["city", "skills"], keys_for=[])
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Allowed)
    assert (d.grant_id, d.key_record_id) == ("grant_two", first.id)
    assert m.open(d, S1) == "Porto"


def test_key_from_the_authorising_grant_first_then_the_latest() -> None:
    m = Member()
    m.set("city", "Porto")
    a = m.grant("grant_one", S1, ["city"])
    b = m.grant("grant_two", S1, ["city"])
    got = m.ask(S1, "city")["city"]
    assert isinstance(got, Allowed) and (got.grant_id, got.key_record_id) == ("grant_two", b.id)
    m.grant("grant_three", S1, ["city"], keys_for=[])
    got = m.ask(S1, "city")["city"]
    assert isinstance(got, Allowed) and (got.grant_id, got.key_record_id) == ("grant_three", b.id)
    m.revoke("grant_two")
    m.revoke("grant_three")
    got = m.ask(S1, "city")["city"]
    assert isinstance(got, Allowed) and (got.grant_id, got.key_record_id) == ("grant_one", a.id)
    assert m.open(got, S1) == "Porto"


# --- every reason ------------------------------------------------------------------------------


def test_no_grant_even_when_another_grantee_has_one() -> None:
    m = Member()
    m.set("city", "Lisbon", readers=[S2])
    m.grant("grant_s2", S2, ["city"])
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Refused)
    assert (d.reason, d.grant_id) == (Reason.NO_GRANT, None)
    assert m.open(m.ask(S2, "city")["city"], S2) == "Lisbon"


def test_grant_is_checked_before_the_value() -> None:
    """A grantee without a grant cannot tell a set field from an unset one."""
    m = Member()
    m.set("city", "Lisbon")
    assert reason(m.ask(S1, "city")["city"]) == reason(m.ask(S1, "skills")["skills"]) == "no-grant"


def test_field_outside_a_live_grant_is_not_granted() -> None:
    m = Member()
    m.set("city", "Lisbon")
    m.set("email", "a@example.org")
    m.grant("grant_city", S1, ["city"])
    got = m.ask(S1, "city", "email")
    assert reason(got["city"]) == "allowed"
    assert isinstance(got["email"], Refused)
    assert (got["email"].reason, got["email"].grant_id) == (Reason.NOT_GRANTED, None)


def test_field_outside_only_dead_grants_is_no_grant() -> None:
    m = Member()
    m.set("email", "a@example.org")
    m.grant("grant_city", S1, ["city"])
    m.revoke("grant_city")
    m.grant("grant_old", S1, ["city"], expires_ms=T0)
    assert reason(m.ask(S1, "email")["email"]) == "no-grant"


def test_revoked_then_granted_again_under_a_new_id() -> None:
    m = Member()
    m.set("city", "Lisbon", readers=[S1])
    m.grant("grant_city", S1, ["city"])
    r = m.revoke("grant_city")
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Refused)
    assert (d.reason, d.grant_id) == (Reason.REVOKED, "grant_city")
    assert f"seq {r.seq}" in d.message
    m.grant("grant_city_2", S1, ["city"])
    d2 = m.ask(S1, "city")["city"]
    assert isinstance(d2, Allowed) and d2.grant_id == "grant_city_2"
    assert m.open(d2, S1) == "Lisbon"
    old = m.view().grants["grant_city"]
    assert (old.revoked_seq, old.revoked_record_id, old.status(T0)) == (r.seq, r.id, "revoked")


def test_expiry_boundary() -> None:
    m = Member()
    m.set("city", "Lisbon", readers=[S1])
    m.grant("grant_city", S1, ["city"], expires_ms=T0 + 1000)
    assert reason(m.ask(S1, "city", now_ms=T0 + 999)["city"]) == "allowed"
    d = m.ask(S1, "city", now_ms=T0 + 1000)["city"]
    assert isinstance(d, Refused)
    assert (d.reason, d.grant_id) == (Reason.EXPIRED, "grant_city")
    assert format_ts(T0 + 1000) in d.message
    assert reason(m.ask(S1, "city", now_ms=T0 + 10**9)["city"]) == "expired"


def test_revoked_and_expired_reports_revoked() -> None:
    m = Member()
    m.grant("grant_city", S1, ["city"], expires_ms=T0)
    m.revoke("grant_city")
    assert reason(m.ask(S1, "city", now_ms=T0 + 1)["city"]) == "revoked"
    assert m.view().grants["grant_city"].status(T0 + 1) == "revoked"


def test_the_latest_dead_grant_gives_the_reason() -> None:
    m = Member()
    m.grant("grant_one", S1, ["city"])
    m.revoke("grant_one")
    m.grant("grant_two", S1, ["city"], expires_ms=T0)
    d = m.ask(S1, "city")["city"]
    assert isinstance(d, Refused) and (d.reason, d.grant_id) == (Reason.EXPIRED, "grant_two")


def test_no_value_never_set_and_cleared_then_set_again() -> None:
    m = Member()
    m.grant("grant_both", S1, ["city", "skills"])
    d = m.ask(S1, "skills")["skills"]
    assert isinstance(d, Refused) and (d.reason, d.grant_id) == (Reason.NO_VALUE, "grant_both")
    m.set("city", "Lisbon", readers=[S1])
    m.clear("city")
    assert reason(m.ask(S1, "city")["city"]) == "no-value"
    assert m.view().values["city"] is None
    s = m.set("city", "Madrid", readers=[S1])
    d2 = m.ask(S1, "city")["city"]
    assert isinstance(d2, Allowed) and d2.record.id == s.id
    assert m.open(d2, S1) == "Madrid"


def test_several_grantees_each_read_their_own_fields() -> None:
    m = Member()
    m.grant("grant_s1", S1, ["city"])
    m.grant("grant_s2", S2, ["city", "skills"])
    m.set("city", "Lisbon", readers=live_readers(m.view(), "city", T0))
    m.set("skills", ["python"], readers=live_readers(m.view(), "skills", T0))
    one, two, three = (m.ask(s, "city", "skills") for s in (S1, S2, S3))
    assert [reason(one["city"]), reason(one["skills"])] == ["allowed", "not-granted"]
    assert m.open(two["city"], S2) == "Lisbon" and m.open(two["skills"], S2) == ["python"]
    assert m.open(one["city"], S1) == "Lisbon"
    assert [reason(three["city"]), reason(three["skills"])] == ["no-grant", "no-grant"]
    with pytest.raises(SealError):  # S1's key is not S2's
        seal.unwrap_key(one["city"].wrapped_key, SERVICE_KEYS[1])  # type: ignore[union-attr]


def test_the_latest_live_grant_covering_the_field_decides() -> None:
    m = Member()
    m.set("city", "Lisbon", readers=[S1])
    m.grant("grant_one", S1, ["city"])
    m.grant("grant_two", S1, ["city"], expires_ms=T0 + 5)
    assert m.ask(S1, "city")["city"].grant_id == "grant_two"
    assert m.ask(S1, "city", now_ms=T0 + 5)["city"].grant_id == "grant_one"
    m.revoke("grant_one")
    assert m.ask(S1, "city")["city"].grant_id == "grant_two"


def test_reason_codes_are_stable() -> None:
    assert [r.value for r in Reason] == ["no-grant", "not-granted", "revoked", "expired",
                                         "no-value", "no-key"]
