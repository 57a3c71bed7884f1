"""The issue's reproductions against a real node: edit the database while it is stopped, then
audit with the real CLI and ask the restarted node.  Each test failed on the code before the
audit compared index columns with the signed bytes (issue 17, item 3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nacl.signing
import pytest
import sqlalchemy as sa

from ledger import keys, seal
from ledger.chain import Author
from ledger.encoding import b64url_encode
from ledger.store import schema as t
from ledger.store.db import open_engine
from ledger.times import format_ts, now_ms
from passport_api.client import NodeClient, NodeError
from tests import clizygote
from tests.api.conftest import ROOT, Node
from tests.conftest import fresh_db
from wallet.fields import set_field


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_db(request.param, request, tmp_path)


class Stage:
    """A member who granted ``today`` to a service and then revoked it, on a real node."""

    def __init__(self, home: Path, db: str) -> None:
        self.home, self.db = home, db
        self.alice = Author(keys.generate())
        self.rides: nacl.signing.SigningKey = keys.generate()
        today = set_field(self.alice, "today", "at the library", [])
        rides = keys.did_of(self.rides)
        grant = self.alice.next("consent.grant", {
            "grant": "grant-rides-1", "grantee": rides, "fields": ["today"],
            "purpose": "tests", "expires": format_ts(now_ms() + 3600_000),
            "keys": {"today": seal.wrap_key(today.sealed.content_key, rides)}})
        revoke = self.alice.next("consent.revoke", {"grant": "grant-rides-1"})
        later = set_field(self.alice, "leaving_at", "17:30", [])
        self.revoke_id = revoke.id
        self.node = Node(home, db)
        with httpx.Client(base_url=self.node.url) as http:
            r = http.post("/v1/records/batch", json={
                "records": [r.decode() for r in (today.record.raw, grant.raw, revoke.raw,
                                                 later.record.raw)],
                "blobs": {k: b64url_encode(v) for k, v in (today.blobs | later.blobs).items()}})
            assert r.status_code == 201, r.text

    def tamper(self, statement: sa.Executable) -> None:
        """Stop the node, edit its database, start it again."""
        self.node.stop()
        engine = open_engine(self.db, create=False)
        with engine.begin() as conn:
            assert conn.execute(statement).rowcount == 1
        engine.dispose()
        self.node = Node(self.home, self.db, port=self.node.port)

    def verify(self) -> tuple[int, dict[str, object]]:
        """``passport ledger verify --json`` on the node's database, as a user runs it."""
        done = clizygote.run(["ledger", "verify", "--db", self.db, "--json"],
                             {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout)


@pytest.fixture
def stage(tmp_path: Path, db: str) -> Iterator[Stage]:
    s = Stage(tmp_path / "home", db)
    yield s
    s.node.stop()


def problems(report: dict[str, object]) -> list[dict[str, object]]:
    found = report["problems"]
    assert isinstance(found, list)
    return found


def test_a_revoke_relabelled_attest_is_caught_and_never_served(stage: Stage) -> None:
    with NodeClient(stage.node.url, stage.rides) as c, pytest.raises(NodeError) as info:
        c.read(stage.alice.did, ["today"])
    assert info.value.status == 403  # revoked, before the edit
    stage.tamper(t.records.update().where(t.records.c.seq == 3, t.records.c.author ==
                                          stage.alice.did).values(type="attest"))
    code, report = stage.verify()
    assert code == 1 and report["ok"] is False
    named = [p for p in problems(report) if p["check"] == "index-column"]
    assert named and named[0]["record_id"] == stage.revoke_id and named[0]["index"] == 2
    assert "type" in str(named[0]["message"])
    with NodeClient(stage.node.url, stage.rides) as c, pytest.raises(NodeError) as info:
        c.read(stage.alice.did, ["today"])
    assert (info.value.status, info.value.code) == (503, "store-error")
    assert "type of " in info.value.problem["detail"]
    assert "record at seq 3 disagrees with its signed bytes" in info.value.problem["detail"]


@pytest.mark.parametrize(("column", "value"), [("seq", 99), ("ts_ms", 1), ("author", "x")])
def test_an_edited_index_column_is_named(stage: Stage, column: str, value: object) -> None:
    if value == "x":
        value = Author(keys.generate()).did
    stage.tamper(t.records.update().where(t.records.c.idx == 1).values({column: value}))
    code, report = stage.verify()
    assert code == 1
    named = [p for p in problems(report) if p["check"] == "index-column"]
    assert [(p["index"], column in str(p["message"])) for p in named] == [(1, True)]


def test_a_moved_author_never_serves_a_chain_with_a_hole(stage: Stage) -> None:
    did = stage.alice.did
    with httpx.Client(base_url=stage.node.url) as http:
        assert len(http.get(f"/v1/members/{did}/chain").json()["records"]) == 4
    other = Author(keys.generate()).did
    stage.tamper(t.records.update().where(t.records.c.idx == 2).values(author=other))
    with httpx.Client(base_url=stage.node.url) as http:
        r = http.get(f"/v1/members/{did}/chain")
        assert r.status_code == 503, r.text
        assert "missing from the chain" in r.json()["detail"]
        # The moved record is not served as the other member's chain either.
        assert http.get(f"/v1/members/{other}/chain").status_code == 503
    code, report = stage.verify()
    assert code == 1
    assert {(p["check"], p["index"]) for p in problems(report)} >= {("index-column", 2)}


def test_a_corrupt_key_history_is_named_not_a_crash(stage: Stage) -> None:
    did = stage.alice.did
    stage.tamper(t.chains.update().where(t.chains.c.author == did)
                 .values(key_history='{"next_commitment": null, "epochs": [[1, 2]]}'))
    code, report = stage.verify()
    assert code == 1
    assert [(p["check"], did in str(p["message"])) for p in problems(report)] == [
        ("chain-state", True)]
    # The node names the problem too: alice's signed call needs her keys, from that row.
    with NodeClient(stage.node.url, stage.alice.signing_key) as c, \
            pytest.raises(NodeError) as info:
        c.receipts(did)
    assert (info.value.status, info.value.code) == (503, "store-error")
    assert "key history" in info.value.problem["detail"]
