"""Consent: which grantee may read which passport field, as a pure model of one member's records.

The node answers a scoped read (DESIGN §8) with ``authorize``; the wallet lists grants and picks
the readers of a new value (``live_readers``); the matcher finds what members granted to it
(``live_grants``).  No I/O and no clock: callers pass the member's records in chain order and
the time.  The records were accepted by the node already (signatures, chain, bodies), so this
model never refuses one for its content; what it cannot honour it ignores and lists in
``PassportView.anomalies``:

* a grant id names one grant of a member forever: the first ``consent.grant`` with an id stands,
  a later one reusing it is ignored (``grant-id-reused``), so a revoke can never be undone by
  reissuing its id and a receipt naming a grant id is never ambiguous;
* a ``consent.revoke`` of an id with no earlier grant is ignored (``unknown-grant``): revoking
  ahead of time does not pre-empt a later grant with that id;
* a second revoke of a grant is ignored (``already-revoked``): the first one dates the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Literal, TypeAlias

from ledger.errors import ChainError
from ledger.records import Record
from ledger.times import format_ts, parse_ts

CONSENT_TYPES = frozenset({"passport.set", "passport.clear", "consent.grant", "consent.revoke"})


class Reason(StrEnum):
    """Why a field is not served: the stable code behind the node's 403."""

    NO_GRANT = "no-grant"  # no grant to this grantee ever covered the field
    NOT_GRANTED = "not-granted"  # the grantee has live grants, none covering the field
    REVOKED = "revoked"  # the latest grant covering the field was revoked
    EXPIRED = "expired"  # the latest grant covering the field has expired
    NO_VALUE = "no-value"  # granted, but the field was never set or is cleared
    NO_KEY = "no-key"  # granted, but the current value's key was never wrapped to the grantee


AnomalyCode: TypeAlias = Literal["grant-id-reused", "unknown-grant", "already-revoked"]


@dataclass(frozen=True, slots=True)
class Grant:
    """One ``consent.grant`` and, once revoked, the ``consent.revoke`` that ended it."""

    grant_id: str
    grantee: str
    fields: tuple[str, ...]
    purpose: str
    expires_ms: int
    record_id: str
    seq: int
    ts_ms: int  # when the member says it granted
    keys: Mapping[str, str] = field(hash=False)  # field -> content key of the value then current
    revoked_seq: int | None = None
    revoked_record_id: str | None = None
    revoked_ms: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_seq is not None

    def expired(self, now_ms: int) -> bool:
        """Expiry is exclusive: at ``expires`` the grant is over."""
        return now_ms >= self.expires_ms

    def live(self, now_ms: int) -> bool:
        return not self.revoked and not self.expired(now_ms)

    def covers(self, field_name: str) -> bool:
        return field_name in self.fields

    def status(self, now_ms: int) -> Literal["live", "revoked", "expired"]:
        """Revoked wins over expired: it is the member's own act, and it is final."""
        if self.revoked:
            return "revoked"
        return "expired" if self.expired(now_ms) else "live"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An accepted record this model ignores, and why (for the wallet and audits to show)."""

    code: AnomalyCode
    seq: int
    record_id: str
    grant_id: str
    message: str


class PassportView:
    """One member's fields and grants, folded from their records in chain order.

    Mutable so the node can keep one per member and ``apply`` each record it accepts; the
    mappings it hands out are read-only.  Records of other types are skipped (only their seq
    is noted), so a caller may pass the whole chain or just the consent types.
    """

    def __init__(self, member: str) -> None:
        self.member = member
        self.seq = 0  # the last record applied
        self._values: dict[str, Record | None] = {}
        self._grants: dict[str, Grant] = {}  # in seq order, as applied
        self._anomalies: list[Anomaly] = []

    @classmethod
    def from_records(cls, records: Iterable[Record], *, member: str | None = None
                     ) -> PassportView:
        """Fold ``records``; ``member`` defaults to the first record's author."""
        it = iter(records)
        first = next(it, None)
        if member is None:
            if first is None:
                raise ValueError("no records and no member: whose passport is this?")
            member = first.author
        view = cls(member)
        if first is not None:
            view.apply(first)
        for record in it:
            view.apply(record)
        return view

    def copy(self) -> PassportView:
        """An independent view at the same point: one may ``apply`` to it while others still
        read this one (the node's cached views are shared by its threads)."""
        other = PassportView(self.member)
        other.seq = self.seq
        other._values = dict(self._values)
        other._grants = dict(self._grants)
        other._anomalies = list(self._anomalies)
        return other

    def apply(self, record: Record) -> None:
        """Take the member's next record into account; another author's or a stale seq raises."""
        if record.author != self.member:
            raise ChainError(f"record {record.id} belongs to {record.author}, "
                             f"not {self.member}")
        if record.seq <= self.seq:
            raise ChainError(f"seq: {record.seq} is not after seq {self.seq}, already applied: "
                             f"records must come in chain order")
        self.seq = record.seq
        body = record.body
        if record.type == "passport.set":
            self._values[body["field"]] = record
        elif record.type == "passport.clear":
            self._values[body["field"]] = None
        elif record.type == "consent.grant":
            self._grant(record)
        elif record.type == "consent.revoke":
            self._revoke(record)

    def _grant(self, record: Record) -> None:
        body = record.body
        gid = body["grant"]
        first = self._grants.get(gid)
        if first is not None:
            self._note(record, "grant-id-reused", gid,
                       f"grant id {gid} was first used at seq {first.seq}; "
                       "that grant stands and this one is ignored")
            return
        self._grants[gid] = Grant(
            grant_id=gid, grantee=body["grantee"], fields=tuple(body["fields"]),
            purpose=body["purpose"], expires_ms=parse_ts(body["expires"]),
            record_id=record.id, seq=record.seq, ts_ms=record.ts_ms,
            keys=MappingProxyType(dict(body["keys"])))

    def _revoke(self, record: Record) -> None:
        gid = record.body["grant"]
        grant = self._grants.get(gid)
        if grant is None:
            self._note(record, "unknown-grant", gid,
                       f"revokes grant {gid}, which no earlier record granted; ignored")
        elif grant.revoked:
            self._note(record, "already-revoked", gid,
                       f"grant {gid} was already revoked at seq {grant.revoked_seq}; ignored")
        else:
            self._grants[gid] = replace(grant, revoked_seq=record.seq,
                                        revoked_record_id=record.id, revoked_ms=record.ts_ms)

    def _note(self, record: Record, code: AnomalyCode, gid: str, message: str) -> None:
        self._anomalies.append(Anomaly(code, record.seq, record.id, gid,
                                       f"seq {record.seq}: {message}"))

    @property
    def values(self) -> Mapping[str, Record | None]:
        """Every field ever set or cleared: its latest ``passport.set``, or None if cleared."""
        return MappingProxyType(self._values)

    @property
    def grants(self) -> Mapping[str, Grant]:
        """Every grant by id, live or not, in the order the member made them."""
        return MappingProxyType(self._grants)

    @property
    def anomalies(self) -> tuple[Anomaly, ...]:
        return tuple(self._anomalies)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields that have a value now, sorted."""
        return tuple(sorted(f for f, r in self._values.items() if r is not None))

    def value(self, field_name: str) -> Record | None:
        """The latest ``passport.set`` of the field; None if never set or cleared since."""
        return self._values.get(field_name)

    def grants_to(self, grantee: str) -> list[Grant]:
        """Every grant to ``grantee``, live or not, oldest first."""
        return [g for g in self._grants.values() if g.grantee == grantee]


@dataclass(frozen=True, slots=True)
class Allowed:
    """The field may be served: this value record, and this content key wrapped to the grantee."""

    allowed: ClassVar[bool] = True
    field: str
    grant_id: str  # the live grant that authorises the read (for the access receipt)
    record: Record  # the field's latest passport.set
    wrapped_key: str
    key_record_id: str  # where the wrapped key is: the set record, or a later grant


@dataclass(frozen=True, slots=True)
class Refused:
    """The field may not be served, with a stable reason code and a message for people."""

    allowed: ClassVar[bool] = False
    field: str
    reason: Reason
    message: str
    grant_id: str | None = None  # the grant the reason is about, if there is one


FieldDecision: TypeAlias = Allowed | Refused


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The answer to one scoped read: a decision per requested field, in request order."""

    member: str
    grantee: str
    now_ms: int
    decisions: tuple[FieldDecision, ...]

    @property
    def allowed(self) -> tuple[Allowed, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Allowed))

    @property
    def refused(self) -> tuple[Refused, ...]:
        return tuple(d for d in self.decisions if isinstance(d, Refused))

    def decision(self, field_name: str) -> FieldDecision:
        for d in self.decisions:
            if d.field == field_name:
                return d
        raise KeyError(field_name)


def authorize(view: PassportView, grantee: str, fields: Iterable[str], now_ms: int) -> ReadPlan:
    """Decide, field by field, what ``grantee`` may read of ``view``'s passport at ``now_ms``.

    Grants are checked before values, so a grantee without a grant cannot learn whether a field
    has a value.  Repeated fields are decided once.
    """
    mine = view.grants_to(grantee)
    decisions = tuple(_decide(view, grantee, mine, f, now_ms) for f in dict.fromkeys(fields))
    return ReadPlan(view.member, grantee, now_ms, decisions)


def _decide(view: PassportView, grantee: str, mine: list[Grant], name: str, now_ms: int
            ) -> FieldDecision:
    covering = [g for g in mine if g.covers(name)]
    live = [g for g in covering if g.live(now_ms)]
    if not live:
        if not covering:
            if any(g.live(now_ms) for g in mine):
                return Refused(name, Reason.NOT_GRANTED,
                               f"no live grant to this grantee covers {name!r}")
            return Refused(name, Reason.NO_GRANT, f"no grant to this grantee covers {name!r}")
        # The latest grant that covered the field says why it no longer does.
        last = covering[-1]
        if last.revoked:
            return Refused(name, Reason.REVOKED, f"grant {last.grant_id} covering {name!r} was "
                           f"revoked at seq {last.revoked_seq}", last.grant_id)
        return Refused(name, Reason.EXPIRED, f"grant {last.grant_id} covering {name!r} expired "
                       f"at {format_ts(last.expires_ms)}", last.grant_id)
    grant = live[-1]  # several live grants may cover it: the latest decides
    record = view.value(name)
    if record is None:
        return Refused(name, Reason.NO_VALUE, f"the member has no value for {name!r}",
                       grant.grant_id)
    wrapped = record.body["recipients"].get(grantee)
    if wrapped is not None:
        return Allowed(name, grant.grant_id, record, wrapped, record.id)
    # A grant made after the value wraps that value's key; any grant to this grantee will do
    # (it is the same key to the same grantee), the authorising one first.
    for g in (grant, *reversed(mine)):
        if g.seq > record.seq and name in g.keys:
            return Allowed(name, grant.grant_id, record, g.keys[name], g.record_id)
    return Refused(name, Reason.NO_KEY, f"no key for this value: the value of {name!r} (seq "
                   f"{record.seq}) is not wrapped to this grantee; the member must grant it "
                   "again or set it again", grant.grant_id)


def live_grants(view: PassportView, now_ms: int, grantee: str | None = None) -> list[Grant]:
    """The grants in force at ``now_ms`` (to ``grantee`` only, if given), oldest first."""
    return [g for g in view.grants.values()
            if g.live(now_ms) and (grantee is None or g.grantee == grantee)]


def live_readers(view: PassportView, field_name: str, now_ms: int) -> list[str]:
    """Whom a new value of the field must be wrapped to besides the member (DESIGN §4)."""
    return sorted({g.grantee for g in live_grants(view, now_ms)
                   if g.covers(field_name) and g.grantee != view.member})
