"""ledger.consent against a reference model: a hypothesis property compares ``authorize``
with the rules written out plainly, over random set/clear/grant/revoke sequences and query
times, and opens every allowed read end to end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.consent import Allowed, PassportView, Refused, authorize
from tests.ledger.consent_support import LATER, MEMBER, S1, S2, S3, T0, Member, reason

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
