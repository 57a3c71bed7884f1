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
from ledger.store import evidence
from ledger.store import schema as t
from ledger.store.db import writing
from ledger.store.hotpath import Cursor, HotPath
from ledger.store.view_states import ViewState

NONCE_BYTES = 24


@dataclass(frozen=True)
class StoredReceipt:
    id: int
    member: str
    service: str
    served_ms: int
    receipt: bytes  # canonical JSON, as signed
    node_sig: bytes


@dataclass(frozen=True)
class ReceiptToWrite:
    """A served read's receipt and the request nonce it spends, written in one transaction."""

    keyid: str
    nonce: str
    nonce_expires_ms: int
    member: str
    service: str
    served_ms: int
    receipt: bytes
    node_sig: bytes
    view_state: ViewState | None = None  # a consent view the read folded, to keep


PURGE_EVERY_MS = 60_000

class AccessStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._purged_ms = 0
        self._hot = HotPath(engine)

    # --- replay guard -------------------------------------------------------------------------

    def first_use(self, keyid: str, nonce: str, expires_ms: int, now_ms: int) -> bool:
        """Record (keyid, nonce) until ``expires_ms``; False if it was seen before.

        Expired nonces are purged at most once a minute per process (one commit fewer per
        signed request); until then an expired one found again is taken over, as if purged.
        """
        if now_ms - self._purged_ms >= PURGE_EVERY_MS:
            self._purged_ms = now_ms
            with writing(self.engine) as conn:
                conn.execute(t.request_nonces.delete()
                             .where(t.request_nonces.c.expires_ms < now_ms))
        try:
            with writing(self.engine) as conn:
                conn.execute(t.request_nonces.insert().values(keyid=keyid, nonce=nonce,
                                                              expires_ms=expires_ms))
        except sa.exc.IntegrityError:
            c = t.request_nonces.c
            with writing(self.engine) as conn:
                taken = conn.execute(t.request_nonces.update()
                                     .where(c.keyid == keyid, c.nonce == nonce,
                                            c.expires_ms < now_ms)
                                     .values(expires_ms=expires_ms))
            return bool(taken.rowcount)
        return True

    def spend_and_receipt(self, items: list[ReceiptToWrite], now_ms: int,
                          sign: evidence.Signer) -> list[int | None]:
        """Spend each item's nonce and store its receipt, all in ONE write transaction (one
        commit, one fsync for a whole group of concurrent reads).

        Returns, per item, the receipt id, or None when its nonce was already spent (a replay,
        or the same request twice in the group): then no receipt is written for it and the
        caller must serve nothing.  Nothing is acknowledged before this returns, committed.
        The statements run on the driver's cursor (``hotpath``): one multi-row insert each for
        the nonces, the receipts and their evidence entries.
        """
        hot = self._hot
        with hot.writing() as (conn, cur):
            if now_ms - self._purged_ms >= PURGE_EVERY_MS:
                self._purged_ms = now_ms
                conn.execute(t.request_nonces.delete()
                             .where(t.request_nonces.c.expires_ms < now_ms))
            with hot.pipelined(conn):
                return self._spend_and_receipt(conn, cur, items, now_ms, sign)

    def _spend_and_receipt(self, conn: sa.Connection, cur: Cursor,
                           items: list[ReceiptToWrite], now_ms: int, sign: evidence.Signer
                           ) -> list[int | None]:
        """The statements of ``spend_and_receipt``, pipelined on PostgreSQL: the nonces,
        the receipts (their ids make the evidence entries), the evidence head's lock, then
        the evidence, the head and the views together.  The head is locked last: every
        group commit of every worker waits for that lock, held from there to COMMIT."""
        hot = self._hot
        inserted = hot.spend(conn, cur, [(i.keyid, i.nonce, i.nonce_expires_ms)
                                         for i in items])
        fresh: list[ReceiptToWrite] = []
        spent: list[bool] = []
        for item in items:
            key = (item.keyid, item.nonce)
            if key in inserted:
                inserted.discard(key)  # the same nonce twice in a group: the first only
                ok = True
            else:  # seen before: only an expired entry may be taken over
                ok = hot.take_over(conn, cur, (item.keyid, item.nonce),
                                   now_ms=now_ms, expires_ms=item.nonce_expires_ms)
            spent.append(ok)
            if ok:
                fresh.append(item)
        rows = [(i.member, i.service, i.served_ms, i.receipt, i.node_sig) for i in fresh]
        ids = iter(hot.insert_receipts(conn, cur, rows) if rows else [])
        out = [next(ids) if ok else None for ok in spent]
        head = hot.evidence_head(conn, cur) if rows else None
        # each receipt chained into the evidence chain, as add_receipt does, one signature
        hot.chain_receipts(conn, cur, [(i, *r) for i, r in zip(
            [o for o in out if o is not None], rows, strict=True)], sign, head)
        hot.save_views(conn, cur, [i.view_state for i in fresh if i.view_state is not None])
        return out

    # --- check-in challenges ------------------------------------------------------------------

    def issue_challenge(self, space: str, now_ms: int, ttl_ms: int) -> tuple[str, int]:
        """A fresh single-use nonce for ``space``'s desk, and when it expires."""
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        expires = now_ms + ttl_ms
        with writing(self.engine) as conn:
            conn.execute(t.challenges.insert().values(
                nonce_hash=hashlib.sha256(nonce.encode()).digest(), space=space,
                created_ms=now_ms, expires_ms=expires, used_rid=None))
        return nonce, expires

    def use_challenge(self, nonce_hash: bytes, space: str | None, record_digest: bytes,
                      now_ms: int) -> None:
        """Mark the challenge answered by the record; refuse unknown, foreign, stale, reused.

        ``space`` is None when the member's wallet reports its answer (the record it names is
        signed by the member and names the challenge by its hash); the space's own verify
        passes its did, and succeeds again for the same record.
        """
        c = t.challenges.c
        with writing(self.engine) as conn:
            row = conn.execute(sa.select(t.challenges).where(c.nonce_hash == nonce_hash)
                               .with_for_update()).one_or_none()
            if row is None or (space is not None and row.space != space):
                what = "of this space " if space is not None else ""
                raise ChallengeError(f"no challenge {what}matches the check-in")
            if row.used_rid is not None:
                if bytes(row.used_rid) == record_digest:
                    return  # the same check-in verified again
                raise ChallengeError("the challenge was already used by another check-in")
            if now_ms > row.expires_ms:
                raise ChallengeError("the challenge expired before it was answered")
            conn.execute(t.challenges.update().where(c.nonce_hash == nonce_hash)
                         .values(used_rid=record_digest))

    def challenge_open(self, nonce_hash: bytes, now_ms: int) -> str | None:
        """None if the challenge can still be answered, else why not (no record is stored)."""
        c = t.challenges.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(c.expires_ms, c.used_rid)
                               .where(c.nonce_hash == nonce_hash)).one_or_none()
        if row is None:
            return "no such challenge at this node"
        if row.used_rid is not None:
            return "the challenge was already used by another check-in"
        if now_ms > row.expires_ms:
            return "the challenge expired"
        return None

    def challenges_of(self, space: str, *, since_ms: int, limit: int = 1000
                      ) -> list[tuple[bytes, int, int, bytes | None]]:
        """(nonce hash, created, expires, answering record digest) of the space's challenges."""
        c = t.challenges.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.nonce_hash, c.created_ms, c.expires_ms, c.used_rid)
                                .where(c.space == space, c.created_ms >= since_ms)
                                .order_by(c.created_ms).limit(limit))
            return [(bytes(r.nonce_hash), int(r.created_ms), int(r.expires_ms),
                     None if r.used_rid is None else bytes(r.used_rid)) for r in rows]

    # --- access receipts ----------------------------------------------------------------------

    def add_receipt(self, member: str, service: str, served_ms: int, receipt: bytes,
                    node_sig: bytes, *, sign: evidence.Signer) -> int:
        """Keep a receipt, chained into the evidence chain (``sign``: the log key's)."""
        with writing(self.engine) as conn:
            result = conn.execute(t.receipts.insert().values(
                member=member, service=service, served_ms=served_ms, receipt=receipt,
                node_sig=node_sig))
            key = result.inserted_primary_key
            assert key is not None
            evidence.record(conn, t.receipts, {"id": int(key[0])}, sign)
            return int(key[0])

    def receipts(self, member: str, *, after_id: int = 0, limit: int = 100
                 ) -> list[StoredReceipt]:
        c = t.receipts.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.receipts).where(c.member == member, c.id > after_id)
                                .order_by(c.id).limit(limit))
            return [StoredReceipt(int(r.id), r.member, r.service, int(r.served_ms),
                                  bytes(r.receipt), bytes(r.node_sig)) for r in rows]
