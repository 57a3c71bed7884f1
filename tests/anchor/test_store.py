"""The anchoring tables: migration 0003 up and down, the lease, orphaning on a chain reset."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ledger.store.anchors import CONFIRMED, ORPHANED, PENDING, AnchorStore
from ledger.store.db import _alembic_config, current_revision, head_revision, open_engine


def test_migration_0003_creates_and_drops_the_anchor_tables(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()  # 0003 or a later one
        tables = set(sa.inspect(engine).get_table_names())
        assert {"anchors", "anchor_contracts", "leases"} <= tables
        with engine.connect().execution_options(passport_write=True) as conn:
            command.downgrade(_alembic_config(conn), "0002")
            conn.commit()
        assert "anchors" not in sa.inspect(engine).get_table_names()
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()


def test_lease_has_one_holder_until_it_expires_or_is_released(db_url: str) -> None:
    engine = open_engine(db_url)
    store = AnchorStore(engine)
    try:
        assert store.take_lease("anchoring", "a", now_ms=1000, ttl_ms=100)
        assert not store.take_lease("anchoring", "b", now_ms=1050, ttl_ms=100)
        assert store.take_lease("anchoring", "a", now_ms=1060, ttl_ms=100)  # renew
        assert store.take_lease("anchoring", "b", now_ms=1161, ttl_ms=100)  # expired
        store.release_lease("anchoring", "b")
        assert store.take_lease("anchoring", "c", now_ms=1162, ttl_ms=100)
    finally:
        engine.dispose()


def test_retiring_a_contract_orphans_its_anchors_only(db_url: str) -> None:
    engine = open_engine(db_url)
    store = AnchorStore(engine)
    try:
        store.add_contract(1, "0xA", 0)
        store.add_contract(2, "0xB", 0)
        rows = [store.add_pending(chain_id=c, contract=a, sender="0xS", log_id=b"l" * 32,
                                  tree_size=n, root=b"r" * 32, nonce=n, tx_hash=bytes([n]) * 32,
                                  raw_tx=b"tx", now_ms=0)
                for c, a, n in ((1, "0xA", 1), (1, "0xA", 2), (2, "0xB", 3))]
        store.update(rows[0].id, status=CONFIRMED, now_ms=1, block_number=5,
                     block_hash=b"h" * 32)
        assert store.retire_contract(1, "0xA", 2, "chain reset") == 2
        assert store.contract_for(1) is None and store.contract_for(2) == "0xB"
        assert sorted((r.tree_size, r.status) for r in store.list()) == [
            (1, ORPHANED), (2, ORPHANED), (3, PENDING)]
        assert store.covering(0) is None  # orphaned anchors prove nothing
    finally:
        engine.dispose()
