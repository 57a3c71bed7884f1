"""The node's anchoring state: its contract per chain, every anchor transaction, one lease.

An anchor row is written (status ``pending``, with the signed transaction) *before* the
transaction is broadcast, so a crash between the two leaves a row that the next round resends
byte for byte: no anchor is lost, and none is sent twice under two nonces.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ledger.store import schema as t
from ledger.store.leases import Leases

PENDING = "pending"
CONFIRMED = "confirmed"
REVERTED = "reverted"
REPLACED = "replaced"
ORPHANED = "orphaned"  # the contract's chain was reset under it
STATUSES = (PENDING, CONFIRMED, REVERTED, REPLACED, ORPHANED)


@dataclass(frozen=True)
class AnchorRow:
    id: int
    chain_id: int
    contract: str
    sender: str
    log_id: bytes
    tree_size: int
    root: bytes
    status: str
    nonce: int
    tx_hash: bytes
    raw_tx: bytes
    block_number: int | None
    block_hash: bytes | None
    created_ms: int
    updated_ms: int
    detail: str | None


def _row(r: sa.Row[tuple[object, ...]]) -> AnchorRow:
    m = r._mapping
    return AnchorRow(
        id=int(m["id"]), chain_id=int(m["chain_id"]), contract=str(m["contract"]),
        sender=str(m["sender"]), log_id=bytes(m["log_id"]), tree_size=int(m["tree_size"]),
        root=bytes(m["root"]), status=str(m["status"]), nonce=int(m["nonce"]),
        tx_hash=bytes(m["tx_hash"]), raw_tx=bytes(m["raw_tx"]),
        block_number=None if m["block_number"] is None else int(m["block_number"]),
        block_hash=None if m["block_hash"] is None else bytes(m["block_hash"]),
        created_ms=int(m["created_ms"]), updated_ms=int(m["updated_ms"]),
        detail=None if m["detail"] is None else str(m["detail"]))


class AnchorStore(Leases):
    """Anchoring state; the lease (``Leases``) keeps one anchorer at a time."""

    # --- contracts ---------------------------------------------------------------------------

    def contract_for(self, chain_id: int) -> str | None:
        c = t.anchor_contracts.c
        with self.engine.connect() as conn:
            address = conn.execute(
                sa.select(c.address).where(c.chain_id == chain_id, c.retired_ms.is_(None))
                .order_by(c.created_ms.desc()).limit(1)).scalar_one_or_none()
        return None if address is None else str(address)

    def add_contract(self, chain_id: int, address: str, now_ms: int) -> None:
        c = t.anchor_contracts.c
        with self._write() as conn, conn.begin():
            exists = conn.execute(sa.select(c.address).where(
                c.chain_id == chain_id, c.address == address)).one_or_none()
            if exists is None:
                conn.execute(t.anchor_contracts.insert().values(
                    chain_id=chain_id, address=address, created_ms=now_ms))
            else:
                conn.execute(t.anchor_contracts.update().where(
                    c.chain_id == chain_id, c.address == address).values(
                    retired_ms=None, created_ms=now_ms))

    def retire_contract(self, chain_id: int, address: str, now_ms: int, why: str) -> int:
        """Mark the contract gone (chain reset) and its anchors orphaned; returns how many."""
        c, a = t.anchor_contracts.c, t.anchors.c
        with self._write() as conn, conn.begin():
            conn.execute(t.anchor_contracts.update().where(
                c.chain_id == chain_id, c.address == address).values(retired_ms=now_ms))
            result = conn.execute(t.anchors.update().where(
                a.chain_id == chain_id, a.contract == address,
                a.status.in_([PENDING, CONFIRMED])).values(
                status=ORPHANED, detail=why, updated_ms=now_ms))
            return int(result.rowcount)

    # --- anchors -----------------------------------------------------------------------------

    def add_pending(self, *, chain_id: int, contract: str, sender: str, log_id: bytes,
                    tree_size: int, root: bytes, nonce: int, tx_hash: bytes, raw_tx: bytes,
                    now_ms: int) -> AnchorRow:
        with self._write() as conn, conn.begin():
            new_id = conn.execute(t.anchors.insert().values(
                chain_id=chain_id, contract=contract, sender=sender, log_id=log_id,
                tree_size=tree_size, root=root, status=PENDING, nonce=nonce, tx_hash=tx_hash,
                raw_tx=raw_tx, created_ms=now_ms, updated_ms=now_ms)).inserted_primary_key
            assert new_id is not None
            row = conn.execute(sa.select(t.anchors).where(t.anchors.c.id == new_id[0])).one()
        return _row(row)

    def update(self, anchor_id: int, *, status: str, now_ms: int,
               block_number: int | None = None, block_hash: bytes | None = None,
               detail: str | None = None) -> None:
        assert status in STATUSES
        with self._write() as conn, conn.begin():
            conn.execute(t.anchors.update().where(t.anchors.c.id == anchor_id).values(
                status=status, block_number=block_number, block_hash=block_hash,
                detail=detail, updated_ms=now_ms))

    def _select(self, *where: sa.ColumnElement[bool], newest_first: bool = True,
                limit: int | None = None) -> list[AnchorRow]:
        a = t.anchors.c
        query = sa.select(t.anchors).where(*where).order_by(
            a.tree_size.desc() if newest_first else a.tree_size, a.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def pending(self, chain_id: int, contract: str) -> list[AnchorRow]:
        a = t.anchors.c
        return self._select(a.chain_id == chain_id, a.contract == contract, a.status == PENDING,
                            newest_first=False)

    def latest_confirmed(self, chain_id: int | None = None) -> AnchorRow | None:
        a = t.anchors.c
        where = [a.status == CONFIRMED]
        if chain_id is not None:
            where.append(a.chain_id == chain_id)
        rows = self._select(*where, limit=1)
        return rows[0] if rows else None

    def covering(self, index: int) -> AnchorRow | None:
        """The first confirmed anchor whose tree holds the record at ``index``."""
        a = t.anchors.c
        rows = self._select(a.status == CONFIRMED, a.tree_size > index, newest_first=False,
                            limit=1)
        return rows[0] if rows else None

    def list(self, *, limit: int = 100, status: str | None = None) -> list[AnchorRow]:
        where = [] if status is None else [t.anchors.c.status == status]
        return self._select(*where, limit=limit)

    def get(self, anchor_id: int) -> AnchorRow | None:
        rows = self._select(t.anchors.c.id == anchor_id)
        return rows[0] if rows else None

    # --- tree heads ----------------------------------------------------------------------------

    def first_head_covering(self, index: int) -> int | None:
        """The size of the first signed tree head whose tree holds the record at ``index``."""
        h = t.tree_heads.c
        with self.engine.connect() as conn:
            size = conn.execute(sa.select(h.size).where(h.size > index).order_by(h.size)
                                .limit(1)).scalar_one_or_none()
        return None if size is None else int(size)
