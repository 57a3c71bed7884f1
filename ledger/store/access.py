"""The node's access state in the ledger database: replay guard, check-in challenges, receipts.

Kept in the database, not in a worker's memory, so several worker processes enforce the same
single-use rules.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from ledger.errors import ChallengeError
from ledger.store import schema as t

NONCE_BYTES = 24


@dataclass(frozen=True)
class StoredReceipt:
    id: int
    member: str
    service: str
    served_ms: int
    receipt: bytes  # canonical JSON, as signed
    node_sig: bytes


class AccessStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- replay guard -------------------------------------------------------------------------

    def first_use(self, keyid: str, nonce: str, expires_ms: int, now_ms: int) -> bool:
        """Record (keyid, nonce) until ``expires_ms``; False if it was seen before."""
        with self.engine.begin() as conn:
            conn.execute(t.request_nonces.delete().where(t.request_nonces.c.expires_ms < now_ms))
        try:
            with self.engine.begin() as conn:
                conn.execute(t.request_nonces.insert().values(keyid=keyid, nonce=nonce,
                                                              expires_ms=expires_ms))
        except sa.exc.IntegrityError:
            return False
        return True

    # --- check-in challenges ------------------------------------------------------------------

    def issue_challenge(self, space: str, now_ms: int, ttl_ms: int) -> tuple[str, int]:
        """A fresh single-use nonce for ``space``'s desk, and when it expires."""
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        expires = now_ms + ttl_ms
        with self.engine.begin() as conn:
            conn.execute(t.challenges.insert().values(
                nonce_hash=hashlib.sha256(nonce.encode()).digest(), space=space,
                created_ms=now_ms, expires_ms=expires, used_rid=None))
        return nonce, expires

    def use_challenge(self, nonce_hash: bytes, space: str, record_digest: bytes,
                      now_ms: int) -> None:
        """Mark the challenge answered by the record; refuse unknown, foreign, stale, reused."""
        c = t.challenges.c
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.challenges).where(c.nonce_hash == nonce_hash)
                               .with_for_update()).one_or_none()
            if row is None or row.space != space:
                raise ChallengeError("no challenge of this space matches the check-in")
            if row.used_rid is not None:
                if bytes(row.used_rid) == record_digest:
                    return  # the same check-in verified again
                raise ChallengeError("the challenge was already used by another check-in")
            if now_ms > row.expires_ms:
                raise ChallengeError("the challenge expired before it was answered")
            conn.execute(t.challenges.update().where(c.nonce_hash == nonce_hash)
                         .values(used_rid=record_digest))

    # --- access receipts ----------------------------------------------------------------------

    def add_receipt(self, member: str, service: str, served_ms: int, receipt: bytes,
                    node_sig: bytes) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(t.receipts.insert().values(
                member=member, service=service, served_ms=served_ms, receipt=receipt,
                node_sig=node_sig))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def receipts(self, member: str, *, after_id: int = 0, limit: int = 100
                 ) -> list[StoredReceipt]:
        c = t.receipts.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.receipts).where(c.member == member, c.id > after_id)
                                .order_by(c.id).limit(limit))
            return [StoredReceipt(int(r.id), r.member, r.service, int(r.served_ms),
                                  bytes(r.receipt), bytes(r.node_sig)) for r in rows]
