"""The matcher's one way in: the node's consent feed, members' chains and scoped reads.

``NodeSync.changes`` reads the node's consent feed for this service (``GET
/v1/grantees/{did}/consent``: the grants naming it, and its granters' revokes, new and cleared
values, in log order after a cursor), so a poll costs O(records since the last poll), not one
chain read per member; it names the members to refresh.

For each of them, ``NodeSync.refresh`` fetches the chain records after the last one
seen (public), checks the chain, folds it into a ``PassportView``, asks ``ledger.consent`` which
of the ``MATCH_FIELDS`` a live grant lets this service read now, reads the values it does not
hold yet through ``NodeClient.read`` (signed, verified, decrypted; the node writes a receipt the
member can list), and builds the ``Profile`` from those values only.  A revoke or an expiry
drops the field on the next refresh, even when no new value came; a value already read cannot be
unseen (docs/protocol.md §5a), but it is never used again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger import consent, keys
from ledger.chain import ChainState, validate_chain
from ledger.errors import LedgerError
from ledger.records import Record
from matching.fields import checkin_of
from matching.model import MATCH_FIELDS, Profile, profile_from_granted
from passport_api.client import PAGE, NodeClient, NodeError, NodeNotFoundError

KEY_PULL_EVERY_S = 1.0  # at most one chain pull per second per caller for the verifier
log = logging.getLogger(__name__)


@dataclass
class _Member:
    records: list[Record] = field(default_factory=list)
    state: ChainState | None = None  # of ``records``, validated: the keys in force
    view: consent.PassportView | None = None
    values: dict[str, tuple[str, Any, int]] = field(default_factory=dict)  # record id, value, ts
    expires_ms: int | None = None  # the earliest expiry of a live grant to this service
    keys_pulled: float = -KEY_PULL_EVERY_S  # monotonic time the verifier last pulled the chain


@dataclass(frozen=True)
class Changes:
    members: set[str]  # authors of feed records since the last call: refresh them
    granted: set[str]  # of those, the ones who made a grant to this service


class NodeSync:
    def __init__(self, client: NodeClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._clock = clock  # for the limit on key pulls
        self.me = client.did
        self._members: dict[str, _Member] = {}
        self.reads = 0  # scoped reads made (each leaves a receipt)
        self.cursor = -1  # the consent feed was read up to this log index
        self.feed_records = 0  # consent feed records read so far

    def changes(self) -> Changes:
        """The members whose consent to this service or whose values changed since the last
        call, from the node's consent feed (every page up to the log's end)."""
        members: set[str] = set()
        granted: set[str] = set()
        while True:
            records, scanned_to, more = self.client.consent_feed(self.me, self.cursor, PAGE)
            for served in records:  # who and what; the chain pull verifies the chain
                members.add(served.record.author)
                if served.record.type == "consent.grant":
                    granted.add(served.record.author)
            self.feed_records += len(records)
            self.cursor = max(self.cursor, scanned_to)
            if not more:
                return Changes(members, granted)

    def expiring(self, now_ms: int) -> list[str]:
        """Members one of whose grants to this service has expired since their last refresh
        (an expiry writes no record, so the feed cannot tell)."""
        return [d for d, m in self._members.items()
                if m.expires_ms is not None and m.expires_ms <= now_ms]

    def forget(self, did: str) -> None:
        self._members.pop(did, None)

    def _pull(self, did: str, m: _Member) -> bool:
        after = m.records[-1].seq if m.records else 0
        new = [served.record for served in self.client.chain(did, after)]
        if not new:
            return False
        # a chain that does not verify is not used at all
        m.state = validate_chain(m.records + new)
        if m.view is None:
            m.view = consent.PassportView(did)
        for record in new:
            m.view.apply(record)
        m.records.extend(new)
        return True

    def refresh(self, did: str, now_ms: int) -> Profile | None:
        """The member's profile from what they grant this service now (None: nothing)."""
        m = self._members.setdefault(did, _Member())
        try:
            self._pull(did, m)
        except LedgerError:
            self._members[did] = _Member()
            return None
        if m.view is None:
            return None
        plan = consent.authorize(m.view, self.me, MATCH_FIELDS, now_ms)
        live = [g.expires_ms for g in consent.live_grants(m.view, now_ms, self.me)]
        m.expires_ms = min(live) if live else None
        allowed = {d.field: d.record for d in plan.allowed}
        for name in list(m.values):
            if name not in allowed:
                del m.values[name]  # revoked, expired, cleared: never used again
        stale = [f for f, rec in allowed.items() if m.values.get(f, ("",))[0] != rec.id]
        if stale:
            try:
                result = self.client.read(did, stale)
            except NodeError:
                return self._profile(did, m)  # e.g. revoked meanwhile: retry next refresh
            self.reads += 1
            for name, value in result.values.items():
                m.values[name] = (value.record_id, value.value, allowed[name].ts_ms)
        return self._profile(did, m)

    def _profile(self, did: str, m: _Member) -> Profile | None:
        values = {f: v for f, (_, v, _) in m.values.items()}
        when = {f: ts for f, (_, _, ts) in m.values.items()}
        claimed = checkin_of(values.get("space"))
        if claimed is not None:
            checkins = {r.id for r in m.records if r.type == "checkin"}
            if claimed not in checkins:  # claims a check-in the chain does not hold
                values.pop("space")
        return profile_from_granted(did, values, when) if values else None

    def keys_in_force(self, did: str, *, fresh: bool = False) -> list[bytes]:
        """The keys that may sign for ``did`` now, by the same rule as the node
        (``ChainState.keys_at``: the did's own key until its chain rotates it, plus devices in
        force), from the chain held here; ``fresh`` pulls the chain's new records first (the
        verifier asks for that when a signature fails under the held keys).  ``KeyFormatError``
        if ``did`` is not a did:key."""
        own = keys.public_key_from_did(did)
        m = self._members.get(did)
        now = self._clock()
        if m is None or (fresh and now - m.keys_pulled >= KEY_PULL_EVERY_S):
            if m is not None:
                # Only pulls a failed signature asks for are limited: bad signatures cannot make
                # the matcher pull a chain per request, and the first look at a chain does not
                # shut out the member's next request after a rotation.
                m.keys_pulled = now
            m = self._members.setdefault(did, _Member())
            try:
                self._pull(did, m)
            except LedgerError as e:
                log.warning("the chain of %s does not verify (%s): only its own key counts",
                            did, e)
                self._members[did] = _Member()
                return [own]
            except NodeError as e:
                log.warning("cannot read the chain of %s from the node (%s): keys held kept",
                            did, e)
        if m.state is None:
            return [own]
        return m.state.keys_at(m.state.seq + 1)

    def accepted(self, subject: str, attestation: str) -> bool | None:
        """Whether the subject accepted the attestation (None: not an attestation about them)."""
        for found in self.client.attestations(subject):
            if found.record.id == attestation:
                return found.accepted
        return None

    def record(self, record_id: str) -> Record | None:
        try:
            return self.client.record(record_id).record  # its id is checked by the client
        except NodeNotFoundError:
            return None
