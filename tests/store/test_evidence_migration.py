"""Migration 0005 (evidence) on a ledger that already holds receipts and an erased value: the
old rows are chained, the node signs the chain when it next opens, the audit passes, and the
chained rows are protected from then on."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import command

from ledger import keys
from ledger.encoding import canonical
from ledger.parallel import Verifier
from ledger.store import schema as t
from ledger.store.access import AccessStore
from ledger.store.audit import audit
from ledger.store.db import _alembic_config, current_revision, head_revision
from ledger.store.ledger import Ledger
from ledger.times import format_ts
from passport_api.erasure import sign_order
from tests.store.support import member, set_update


def migrate(engine: sa.Engine, to: str, *, down: bool = False) -> None:
    with engine.connect().execution_options(passport_write=True) as conn:
        (command.downgrade if down else command.upgrade)(_alembic_config(conn), to)
        conn.commit()


def test_migration_0005_chains_what_was_there(open_ledger: Callable[..., Ledger]) -> None:
    ledger = open_ledger()
    alice = member()
    raw, blobs = set_update(alice)
    ledger.append(raw, blobs)
    [name] = blobs
    ledger.erase_blob(name, alice.did, sign_order(alice.signing_key, name))
    receipt = canonical({"member": "did:m", "service": "did:s", "served": format_ts(1)})
    AccessStore(ledger.engine).add_receipt(
        "did:m", "did:s", 1, receipt, ledger.sign_statement(keys.RECEIPT_DOMAIN, receipt),
        sign=ledger.sign_statement)
    migrate(ledger.engine, "0004", down=True)  # as if the ledger predated 0005
    assert "evidence" not in sa.inspect(ledger.engine).get_table_names()
    migrate(ledger.engine, "head")
    assert current_revision(ledger.engine) == head_revision()
    with ledger.engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(sa.select(t.evidence.c.kind)
                                            .order_by(t.evidence.c.n))]
        legacy = conn.execute(sa.select(t.erasures.c.request)).scalar_one()
        assert conn.execute(sa.select(t.evidence_head)).first() is None
    assert kinds == ["receipts", "erasures"] and legacy is None
    unsigned = audit(ledger.engine, verifier=Verifier(0))
    assert [p.check for p in unsigned.problems] == ["evidence"]  # no signed head yet
    reopened = open_ledger()  # the node opens it with its log key: it signs the chain
    assert audit(reopened.engine, verifier=Verifier(0)).ok
    with reopened.engine.begin() as conn:
        conn.execute(t.erasures.delete())
    report = audit(reopened.engine, verifier=Verifier(0))
    assert {p.check for p in report.problems} == {"erasure", "evidence"}
