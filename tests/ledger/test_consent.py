"""ledger.consent: who may read which field, over real signed chains with real sealed values.

Every allowed read is opened end to end (unwrap the served key with the grantee's key, decrypt
the blob, check the commitment); a hypothesis property compares ``authorize`` with a small
reference model over random set/clear/grant/revoke sequences and query times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import nacl.signing
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger import keys, seal
from ledger.chain import Author
from ledger.consent import (
    Allowed,
    Grant,
    PassportView,
    Reason,
    Refused,
    authorize,
    live_grants,
    live_readers,
)
from ledger.errors import ChainError, SealError
from ledger.records import Record
from ledger.times import format_ts, parse_ts
from tests.ledger.support import TS, seeded, valid_bodies
from wallet.fields import FieldUpdate, set_field

MEMBER_KEY = seeded(60)
MEMBER = keys.did_of(MEMBER_KEY)
SERVICE_KEYS = [seeded(61), seeded(62), seeded(63)]
S1, S2, S3 = (keys.did_of(k) for k in SERVICE_KEYS)
KEY_OF = {keys.did_of(k): k for k in SERVICE_KEYS}
T0 = parse_ts("2026-03-01T12:00:00Z")
LATER = T0 + 86_400_000


class Member:
    """A member's wallet in miniature: signs records and remembers current content keys."""

    def __init__(self, key: nacl.signing.SigningKey = MEMBER_KEY) -> None:
        self.author = Author(key)
        self.records: list[Record] = []
        self.updates: dict[str, FieldUpdate] = {}  # set record id -> its sealed value
        self.current: dict[str, bytes] = {}  # field -> content key of its current value

    def set(self, name: str, value: Any, readers: Iterable[str] = ()) -> Record:
        update = set_field(self.author, name, value, list(readers))
        self.updates[update.record.id] = update
        self.current[name] = update.sealed.content_key
        return self._add(update.record)

    def clear(self, name: str) -> Record:
        self.current.pop(name, None)
        return self._add(self.author.next("passport.clear", {"field": name}, ts=TS))

    def grant(self, gid: str, grantee: str, fields: list[str], *, expires_ms: int = LATER,
              keys_for: list[str] | None = None, purpose: str = "meet people nearby") -> Record:
        """By default wrap the current key of every granted field that has a value."""
        wrap = [f for f in fields if f in self.current] if keys_for is None else keys_for
        body = {"grant": gid, "grantee": grantee, "fields": fields, "purpose": purpose,
                "expires": format_ts(expires_ms),
                "keys": {f: seal.wrap_key(self.current[f], grantee) for f in wrap}}
        return self._add(self.author.next("consent.grant", body, ts=TS))

    def revoke(self, gid: str) -> Record:
        return self._add(self.author.next("consent.revoke", {"grant": gid}, ts=TS))

    def other(self, record_type: str) -> Record:
        return self._add(self.author.next(record_type, valid_bodies(S3)[record_type], ts=TS))

    def _add(self, record: Record) -> Record:
        self.records.append(record)
        return record

    def view(self) -> PassportView:
        return PassportView.from_records(self.records, member=self.author.did)

    def ask(self, grantee: str, *fields: str, now_ms: int = T0) -> dict[str, Allowed | Refused]:
        plan = authorize(self.view(), grantee, fields, now_ms)
        return {d.field: d for d in plan.decisions}

    def open(self, decision: Allowed | Refused, grantee: str) -> Any:
        """What the grantee reads with what the node serves: the value, or SealError."""
        assert isinstance(decision, Allowed), decision
        record = decision.record
        content_key = seal.unwrap_key(decision.wrapped_key, KEY_OF[grantee])
        return seal.open_blob(self.updates[record.id].sealed.blob, content_key,
                              author=record.author, field=decision.field, seq=record.seq,
                              expected_commitment=record.body["commitment"])


def reason(decision: Allowed | Refused) -> str:
    return "allowed" if isinstance(decision, Allowed) else decision.reason.value


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


# --- the property: authorize against a reference model ------------------------------------------

FIELDS = ["city", "skills"]
GIDS = ["grant_aaaa", "grant_bbbb", "grant_cccc", "grant_dddd"]
EXPIRIES = [T0, T0 + 1000, LATER, LATER]
NOWS = [T0 - 1, T0, T0 + 1, T0 + 999, T0 + 1000]
GRANTEES = [S1, S2]  # S3 and the member are asked about, never granted

SET = st.tuples(st.just("set"), st.sampled_from(FIELDS), st.sets(st.sampled_from(GRANTEES)))
GRANT = st.tuples(st.just("grant"), st.sampled_from(GIDS), st.sampled_from(GRANTEES),
                  st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True),
                  st.sampled_from(EXPIRIES), st.sets(st.sampled_from(FIELDS)))
REVOKE = st.tuples(st.just("revoke"), st.sampled_from(GIDS))
OPS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "set": SET, "grant": GRANT, "revoke": REVOKE,
    "clear": st.tuples(st.just("clear"), st.sampled_from(FIELDS)),
    "other": st.tuples(st.just("other"), st.sampled_from(["checkin", "attest"]))}
# sets and grants weighted up, and queries mostly about granted fields and grantees, so that
# every outcome turns up often
op = st.sampled_from(["set", "set", "set", "grant", "grant", "grant", "revoke", "revoke", "clear",
                      "other"]).flatmap(OPS.__getitem__)
QUERY = st.tuples(st.sampled_from([*GRANTEES * 3, S3, MEMBER]),
                  st.lists(st.sampled_from([*FIELDS * 3, "bio"]), max_size=4),
                  st.sampled_from(NOWS))


@dataclass
class Event:
    """What the reference model knows of one record: no Record, no view."""

    kind: str
    seq: int
    record_id: str
    name: str = ""  # the field (set, clear) or the grant id (grant, revoke)
    grantee: str = ""
    fields: tuple[str, ...] = ()
    expires_ms: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # field -> wrapped (set: did -> wrapped)


def build(ops: list[tuple[Any, ...]]) -> tuple[Member, list[Event]]:
    m, events = Member(), list[Event]()
    for o in ops:
        kind = o[0]
        if kind == "set":
            r = m.set(o[1], {"v": len(events)}, readers=sorted(o[2]))
            events.append(Event("set", r.seq, r.id, o[1], keys=dict(r.body["recipients"])))
        elif kind == "clear":
            r = m.clear(o[1])
            events.append(Event("clear", r.seq, r.id, o[1]))
        elif kind == "grant":
            r = m.grant(o[1], o[2], o[3], expires_ms=o[4],
                        keys_for=[f for f in o[3] if f in o[5] and f in m.current])
            events.append(Event("grant", r.seq, r.id, o[1], o[2], tuple(o[3]), o[4],
                                dict(r.body["keys"])))
        elif kind == "revoke":
            r = m.revoke(o[1])
            events.append(Event("revoke", r.seq, r.id, o[1]))
        else:
            m.other(o[1])
    return m, events


def reference(events: list[Event], grantee: str, name: str, now: int) -> tuple[Any, ...]:
    """Straight from the rules: first grant per id stands; revokes count only after it."""
    grants: dict[str, Event] = {}
    revoked: set[str] = set()
    for e in events:
        if e.kind == "grant":
            grants.setdefault(e.name, e)
        elif e.kind == "revoke" and e.name in grants:
            revoked.add(e.name)

    def live(g: Event) -> bool:
        return g.name not in revoked and now < g.expires_ms

    mine = [g for g in grants.values() if g.grantee == grantee]
    covering = [g for g in mine if name in g.fields]
    if not any(live(g) for g in covering):
        if not covering:
            return ("not-granted" if any(live(g) for g in mine) else "no-grant", None)
        last = max(covering, key=lambda g: g.seq)
        return ("revoked" if last.name in revoked else "expired", last.name)
    chosen = max((g for g in covering if live(g)), key=lambda g: g.seq)
    touches = [e for e in events if e.kind in ("set", "clear") and e.name == name]
    if not touches or touches[-1].kind == "clear":
        return ("no-value", chosen.name)
    value = touches[-1]
    if grantee in value.keys:
        return ("allowed", chosen.name, value.record_id, value.keys[grantee], value.record_id)
    later = [g for g in [chosen, *sorted(mine, key=lambda g: -g.seq)]
             if g.seq > value.seq and name in g.keys]
    if later:
        return ("allowed", chosen.name, value.record_id, later[0].keys[name], later[0].record_id)
    return ("no-key", chosen.name)


def outcome(d: Allowed | Refused) -> tuple[Any, ...]:
    if isinstance(d, Allowed):
        return ("allowed", d.grant_id, d.record.id, d.wrapped_key, d.key_record_id)
    return (d.reason.value, d.grant_id)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=6, max_size=24),
       queries=st.lists(QUERY, min_size=1, max_size=4))
def test_authorize_matches_the_reference_model(ops: list[tuple[Any, ...]],
                                               queries: list[tuple[str, list[str], int]]) -> None:
    m, events = build(ops)
    event(f"ops {len(ops) // 5 * 5}+")
    view = m.view()
    step = PassportView(MEMBER)
    for r in m.records:
        step.apply(r)
    assert (dict(step.grants), dict(step.values), step.anomalies) == (
        dict(view.grants), dict(view.values), view.anomalies)
    for grantee, asked, now in queries:
        plan = authorize(view, grantee, asked, now)
        assert [d.field for d in plan.decisions] == list(dict.fromkeys(asked))
        for d in plan.decisions:
            event(reason(d))
            assert outcome(d) == reference(events, grantee, d.field, now), d
        for d in plan.allowed:
            assert m.open(d, grantee) == {"v": next(
                i for i, e in enumerate(events) if e.record_id == d.record.id)}
