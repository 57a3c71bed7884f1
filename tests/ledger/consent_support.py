"""A member's wallet in miniature for the consent tests (``tests/ledger/test_consent*.py``):
fixed keys, real signed records, real sealed values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import nacl.signing

from ledger import keys, seal
from ledger.chain import Author
from ledger.consent import Allowed, PassportView, Refused, authorize
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
