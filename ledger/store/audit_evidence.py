"""The audit of what the node wrote itself: erasures and their orders, receipts,
equivocations, fork evidence, answered challenges, and the evidence chain over them.

Runs after the log scan (``ledger.store.audit``), which hands over what it re-derived from the
signed records: chain states (keys ever in force), which record names each blob, the check-ins
by challenge.  Every problem names the row (its table and key) and the check.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import nacl.signing
import sqlalchemy as sa

from ledger import erasure, keys
from ledger.chain import ChainState, check_signature
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import digest_name
from ledger.errors import LedgerError
from ledger.records import parse_record
from ledger.store import evidence
from ledger.store import schema as t
from ledger.times import format_ts

if TYPE_CHECKING:
    from ledger.store.audit import _Audit


class EvidenceAudit:
    def __init__(self, audit: _Audit) -> None:
        self.a = audit
        self.conn: sa.Connection = audit.conn
        self.key: nacl.signing.VerifyKey = audit.verify_key
        self.add: Callable[..., None] = audit.problem

    def run(self) -> None:
        rows = {name: self._rows(table) for name, table in evidence.KINDS.items()}
        self._erasures(dict(rows["erasures"]))
        self._receipts(rows["receipts"])
        self._equivocations(rows["equivocations"])
        self._forks(rows["fork_evidence"])
        self._challenges()
        self._chain(rows)

    def _rows(self, table: sa.Table) -> dict[str, Mapping[Any, Any]]:
        found = self.conn.execute(sa.select(table).order_by(*table.primary_key.columns))
        return {evidence.ref_of(table, r._mapping): r._mapping for r in found}

    def _keys_ever(self, author: str) -> list[bytes]:
        return [e.key for e in self.a._state(author).epochs]

    # --- erasures: every erased value has its author's signed order --------------------------

    def _erasures(self, orders: dict[str, Mapping[Any, Any]]) -> None:
        for digest, erased_ms in self.a.erased.items():
            name = digest_name(digest)
            rec_id = self.a.named_blobs.get(digest)
            author = self.a.blob_authors.get(digest)
            row = orders.pop(digest.hex(), None)
            where = f"erasure of blob {name}"
            if row is None:
                self.add("erasure", f"{where}: the value is gone but no order from its author "
                         "is kept (erased by someone else)", record_id=rec_id)
                continue
            if author is None or row["author"] != author:
                self.add("erasure", f"{where}: the order's author column says "
                         f"{row['author']!r}, the value is {author!r}'s", record_id=rec_id)
                continue
            if row["received_ms"] != erased_ms:
                self.add("erasure", f"{where}: erased at {erased_ms}, the order arrived at "
                         f"{row['received_ms']}", record_id=rec_id)
            request = row["request"]
            if request is None:
                continue  # erased before orders were kept; the evidence chain vouches for it
            problem = erasure.check(bytes(request), name, author, self._keys_ever(author))
            if problem is not None:
                self.add("erasure", f"{where}: {problem}", record_id=rec_id)
        for ref in orders:
            self.add("erasure", f"erasure of blob sha256:{ref}: an order is kept but the value "
                     "is not erased")

    # --- receipts: their columns are their signed JSON's, the node's signature holds ---------

    def _receipts(self, rows: dict[str, Mapping[Any, Any]]) -> None:
        for ref, row in rows.items():
            where = f"receipt {ref}"
            raw = bytes(row["receipt"])
            if not keys.verify(bytes(self.key), keys.RECEIPT_DOMAIN, raw, bytes(row["node_sig"])):
                self.add("receipt", f"{where}: the node's signature does not hold")
            try:
                body = json.loads(raw)
                signed = (body["member"], body["service"], body["served"])
            except (ValueError, KeyError, TypeError):
                self.add("receipt", f"{where}: the receipt is not a receipt's JSON")
                continue
            stored = (row["member"], row["service"], format_ts(int(row["served_ms"])))
            for column, s, g in zip(("member", "service", "served_ms"), stored, signed,
                                    strict=True):
                if s != g:
                    self.add("receipt", f"{where}: column {column} says {s!r}, the signed "
                             f"receipt says {g!r}")

    # --- equivocations: two records signed at one seq, one of them in the log ----------------

    def _equivocations(self, rows: dict[str, Mapping[Any, Any]]) -> None:
        for ref, row in rows.items():
            where = f"equivocation {ref}"
            try:
                rival = parse_record(bytes(row["conflicting_raw"]))
            except LedgerError as e:
                self.add("equivocation", f"{where}: the rival record is not valid: {e}")
                continue
            if (rival.digest != bytes(row["conflicting_rid"]) or rival.author != row["author"]
                    or rival.seq != row["seq"]):
                self.add("equivocation", f"{where}: columns conflicting_rid, author or seq "
                         "disagree with the rival record's bytes")
            state: ChainState = self.a._state(rival.author)
            try:
                check_signature(state, rival)
            except LedgerError as e:
                self.add("equivocation", f"{where}: the rival's signature: {e}")
            stored = self.conn.execute(sa.select(t.records.c.raw).where(
                t.records.c.rid == bytes(row["existing_rid"]))).scalar_one_or_none()
            ours = None if stored is None else parse_record(bytes(stored))
            if ours is None or (ours.author, ours.seq) != (rival.author, rival.seq) or (
                    ours.digest == rival.digest):
                self.add("equivocation", f"{where}: existing_rid is not the log's record at "
                         f"{rival.author} seq {rival.seq}, or is the rival itself")

    # --- fork evidence: two heads signed by the peer's key that cannot both hold -------------

    def _forks(self, rows: dict[str, Mapping[Any, Any]]) -> None:
        for ref, row in rows.items():
            try:
                key = nacl.signing.VerifyKey(bytes(row["log_key"]))
                a = parse_checkpoint(bytes(row["note_a"]), key, row["origin"])
                b = parse_checkpoint(bytes(row["note_b"]), key, row["origin"])
            except (LedgerError, ValueError) as e:
                self.add("fork", f"fork evidence {ref}: a head does not verify: {e}")
                continue
            if a.size == b.size and a.root == b.root:
                self.add("fork", f"fork evidence {ref}: the two heads agree")

    # --- answered challenges: the check-in that answered each is in the log ------------------

    def _challenges(self) -> None:
        c = t.challenges.c
        for nonce_hash, used in self.conn.execute(sa.select(c.nonce_hash, c.used_rid)
                                                  .where(c.used_rid.is_not(None))):
            checkin = self.a.checkins.get(bytes(nonce_hash))
            if checkin is None or checkin != bytes(used):
                self.add("challenge", f"challenge sha256:{bytes(nonce_hash).hex()}: marked "
                         f"answered by sha256:{bytes(used).hex()}, which is not a check-in "
                         "naming it", record_id=None if checkin is None else digest_name(checkin))

    # --- the evidence chain and the node's signed head ---------------------------------------

    def _chain(self, rows: dict[str, dict[str, Mapping[Any, Any]]]) -> None:
        unchained = {(k, ref) for k, refs in rows.items() for ref in refs}
        previous, n = evidence.GENESIS, 0
        for entry in self.conn.execute(sa.select(t.evidence).order_by(t.evidence.c.n)):
            n += 1
            where = f"evidence entry {entry.n}"
            if entry.n != n:
                self.add("evidence", f"{where}: entries {n} to {entry.n - 1} are missing")
                n = int(entry.n)
            expected = evidence.link(previous, n, entry.kind, entry.ref, bytes(entry.digest))
            if not hmac.compare_digest(expected, bytes(entry.link)):
                self.add("evidence", f"{where}: its link does not follow from the previous "
                         "entry (an entry was changed, removed or inserted)")
            previous = bytes(entry.link)
            table = evidence.KINDS.get(entry.kind)
            row = None if table is None else rows[entry.kind].get(entry.ref)
            unchained.discard((entry.kind, entry.ref))
            if table is None or row is None:
                self.add("evidence", f"{where}: {entry.kind} {entry.ref} was deleted")
            elif not hmac.compare_digest(evidence.row_digest(table, row), bytes(entry.digest)):
                self.add("evidence", f"{where}: {entry.kind} {entry.ref} was changed "
                         "(its columns no longer hash to the chained digest)")
        for kind, ref in sorted(unchained):
            self.add("evidence", f"{kind} {ref} is not in the evidence chain (added behind "
                     "the node's back)")
        head = self.conn.execute(sa.select(t.evidence_head)).all()
        if not head:
            if n:
                self.add("evidence", f"the evidence chain has {n} entries and no signed head")
            return
        h = head[0]
        payload = evidence.head_payload(int(h.n), bytes(h.link))
        if h.id != 1 or len(head) > 1 or not keys.verify(bytes(self.key), evidence.DOMAIN,
                                                         payload, bytes(h.sig)):
            self.add("evidence", "the evidence head's signature does not hold under the log key")
        if int(h.n) != n or not hmac.compare_digest(bytes(h.link), previous):
            self.add("evidence", f"the signed evidence head is at entry {h.n}, the chain "
                     f"ends at {n} (evidence deleted or added after it was signed)")

