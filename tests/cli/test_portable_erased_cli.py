"""A passport with an erased value moves to another node and stays erased: `passport erase`,
`export`, `import` through the real binary, node A on SQLite and node B on PostgreSQL; B then
passes `passport ledger verify` (the erasure is backed by the member's signed order)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ledger.store import schema as t
from ledger.store.db import normalise_url
from tests import clizygote
from tests.api.conftest import ROOT, Node
from tests.cli.support import Party
from tests.conftest import empty_pg
from wallet.portable import verify_export


def verify_db(db: str) -> dict[str, object]:
    done = clizygote.run(["ledger", "verify", "--db", db, "--json"],
                         {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    report: dict[str, object] = json.loads(done.stdout)
    assert (done.returncode == 0) == report["ok"], done.stderr
    return report


@pytest.mark.postgres
def test_an_erased_value_moves_erased(tmp_path: Path, pg_database: str) -> None:
    empty_pg(pg_database)
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(Node, tmp_path / "a", str(tmp_path / "a.sqlite")),
                    pool.submit(Node, tmp_path / "b", pg_database)]
        a, b = (f.result() for f in starting)
    try:
        ana = Party(tmp_path / "ana", a)
        ana.did = ana.ok("init", "--name", "Ana")["did"]
        ana.ok("set", "today", "a secret afternoon", "--custom")
        ana.ok("set", "city", "Porto")
        erased = ana.ok("erase", "today", "--yes")["erased_blobs"]
        assert len(erased) == 1
        file = tmp_path / "export.json"
        ana.ok("export", str(file))
        document = json.loads(file.read_text())
        assert document["erased"] == erased and set(document["erasures"]) == set(erased)
        assert erased[0] not in document["blobs"]
        assert verify_export(document).orders.keys() == set(erased)

        # An order for the erased value that is not Ana's is refused, nothing appended.
        forged = dict(document, erasures={erased[0]: document["erasures"][erased[0]]
                                          .replace('"DELETE"', '"GET"')})
        bad = tmp_path / "forged.json"
        bad.write_text(json.dumps(forged))
        assert "erasure order" in ana.fails("import", str(bad), node=b)
        assert httpx.get(f"{b.url}/v1/members/{ana.did}/chain").json()["records"] == []

        imported = ana.ok("import", str(file), node=b)
        assert imported["appended"] == len(document["records"])
        chain_a = httpx.get(f"{a.url}/v1/members/{ana.did}/chain").json()["records"]
        chain_b = httpx.get(f"{b.url}/v1/members/{ana.did}/chain").json()["records"]
        assert [r["record"] for r in chain_b] == [r["record"] for r in chain_a]
        # On B the record stays and the value stays gone; the other value is there.
        assert ana.ok("get", "city", node=b)["value"] == "Porto"
        engine = sa.create_engine(normalise_url(pg_database))
        with engine.connect() as conn:
            row = conn.execute(sa.select(t.blobs.c.data, t.blobs.c.erased_ms).where(
                t.blobs.c.digest == bytes.fromhex(erased[0][7:]))).one()
        engine.dispose()
        assert row.data is None and row.erased_ms is not None
        order_b = httpx.get(f"{b.url}/v1/erasures/{erased[0]}").json()["order"]
        assert order_b == document["erasures"][erased[0]]
    finally:
        a.stop()
        b.stop()
    assert verify_db(pg_database)["ok"] is True
    assert verify_db(str(tmp_path / "a.sqlite"))["ok"] is True

