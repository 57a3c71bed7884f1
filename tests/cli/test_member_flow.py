"""The member, the space and the ride-sharing service, each with their own home, through the
real `passport` binary against a real node (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger import keys, seal
from ledger.errors import SealError
from ledger.records import parse_record
from ledger.store.db import normalise_url
from ledger.store.ledger import Ledger
from tests import clizygote
from tests.api.conftest import Node
from tests.cli.support import PASSPHRASE, Party
from tests.conftest import fresh_db
from wallet import keystore
from wallet.wallet import Wallet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Node, str]]:
    tmp = tmp_path_factory.mktemp("flow")
    db = fresh_db(request.param, request, tmp)
    started = Node(tmp / "node", db)
    yield started, db
    started.stop()


def db_bytes(db: str) -> bytes:
    """Everything the operator's database holds, every column of every row, as bytes."""
    engine = sa.create_engine(normalise_url(db))
    meta = sa.MetaData()
    meta.reflect(engine)
    chunks = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    engine.dispose()
    return b"\x00".join(chunks)


def test_member_space_and_service(node: tuple[Node, str], tmp_path: Path) -> None:
    server, db = node
    alice, space, rides = (Party(tmp_path / n, server) for n in ("alice", "space", "rides"))
    alice.did = alice.ok("init", "--name", "Alice")["did"]
    # (a space's name is public: its profile is in clear, so not one of Alice's values)
    space.did = space.ok("init", "--name", "Seats2meet Central", "--role", "space")["did"]
    rides.did = rides.ok("init", "--name", "RideShare", "--role", "service")["did"]
    assert (alice.home / "keystore.json").stat().st_mode & 0o777 == 0o600
    assert PASSPHRASE.encode() not in (alice.home / "keystore.json").read_bytes()

    values = {"activity": "Designing a ride-sharing service", "city": "Utrecht",
              "expertise": "python, cryptography", "leaving_at": "17:30"}
    for field, value in values.items():
        alice.ok("set", field, value)
    assert alice.ok("get", "city")["value"] == "Utrecht"
    assert "has no value" in alice.fails("get", "looking_for")

    # Two fields granted: the service reads exactly those, and nothing else.
    gid = alice.ok("grant", rides.did, "--fields", "activity,city", "--purpose",
                   "ride matching", "--expires", "7d", "--yes")["grant"]
    got = rides.ok("read", alice.did, "--fields", "activity,city")
    assert {f: v["value"] for f, v in got["fields"].items()} == {
        "activity": values["activity"], "city": "Utrecht"}
    assert "expertise" in rides.fails("read", alice.did, "--fields", "activity,expertise")
    receipts = alice.ok("receipts")
    assert [(r["service"], sorted(f["field"] for f in r["fields"])) for r in receipts] == [
        (rides.did, ["activity", "city"])]
    assert receipts[0]["node_sig_verified"] is True
    assert "no grant" in space.fails("read", alice.did, "--fields", "city").lower()

    # Revoke: the next read is refused, and a later value is not readable even with the blob.
    alice.ok("revoke", gid)
    assert "revoked" in rides.fails("read", alice.did, "--fields", "city")
    assert "already revoked" in alice.fails("revoke", gid)
    later = alice.ok("set", "city", "Rotterdam")
    ledger = Ledger.open(db)
    try:
        record = parse_record(ledger.record(later["record"]).raw)
        blob = ledger.blob(record.body["blob"])
    finally:
        ledger.close()
    assert rides.did not in record.body["recipients"]
    rides_key = keystore.load(rides.home, PASSPHRASE).signing_keys[0]
    for wrapped in record.body["recipients"].values():
        with pytest.raises(SealError):
            seal.open_for(blob, {rides.did: wrapped}, rides.did, rides_key, author=alice.did,
                          field="city", seq=record.seq,
                          expected_commitment=record.body["commitment"])

    # Check-in at the space with a single-use challenge; the desk sees only granted fields.
    alice.ok("grant", space.did, "--fields", "name", "--purpose", "front desk", "--yes")
    token = space.ok("desk", "challenge")["challenge"]
    checkin = alice.ok("checkin", token)
    assert "already used" in alice.fails("checkin", token)
    seen = space.ok("desk", "verify")
    assert [(s["member"], s["checkin"], s["fields"]) for s in seen] == [
        (alice.did, checkin["record"], {"name": "Alice"})]
    assert space.ok("desk", "verify")[0]["attestation"] == seen[0]["attestation"]  # once
    assert "not a check-in challenge" in alice.fails("checkin", "hello")

    # Rotate the key and keep working; the did stays.
    before = alice.ok("whoami")
    rotated = alice.ok("rotate-key")
    after = alice.ok("whoami")
    assert after["did"] == alice.did and after["signing_key"] != before["signing_key"]
    assert keys.did_from_public_key(bytes.fromhex(after["signing_key"])) == \
        rotated["signing_key"]
    alice.ok("set", "looking_for", "a co-founder")
    assert alice.ok("get", "looking_for")["value"] == "a co-founder"
    assert len(alice.ok("receipts")) >= 2  # signed requests under the rotated key

    # Wipe the wallet but the key: everything comes back from the node.
    shown = alice.ok("show")
    grants = alice.ok("grants")
    for path in alice.home.iterdir():
        if path.name != "keystore.json":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert alice.ok("show") == shown
    assert alice.ok("grants") == grants
    assert {f: v["value"] for f, v in shown["fields"].items()} == {
        **values, "city": "Rotterdam", "name": "Alice", "looking_for": "a co-founder"}

    # Errors a person can cause: one line each.
    assert "wrong passphrase" in _with_passphrase(alice, "not the passphrase", "show")
    assert "cannot reach the node" in Party(alice.home, _Down()).fails("show")  # type: ignore[arg-type]
    assert "did:key" in alice.fails("grant", "did:web:example.com", "--fields", "city",
                                    "--purpose", "x")
    assert "no grant" in alice.fails("revoke", "g-nonexistent1")

    # A node whose history differs from the head the wallet saw is reported and not trusted.
    state_file = alice.home / "wallet.json"
    state = json.loads(state_file.read_text())
    state["root"] = base64.b64encode(b"\x01" * 32).decode()
    state_file.write_text(json.dumps(state))
    assert "not trusting it" in alice.fails("sync")
    state_file.unlink()  # forget the bad head: the wallet re-pins on the next sync
    assert alice.ok("sync")["did"] == alice.did

    # The operator's database never holds a value in clear.  Record times are taken out first:
    # a test run at hh:17:30 or 17:30:ss writes "17:30" inside every timestamp of that second.
    dump = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z", b"<time>", db_bytes(db))
    for value in [*values.values(), "Rotterdam", "a co-founder"]:
        assert value.encode() not in dump


def _with_passphrase(party: Party, passphrase: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": passphrase,
           "PASSPORT_NODE": party.node.url}
    result = clizygote.run([*args, "--home", str(party.home)], env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    return result.stderr


class _Down:
    url = "http://127.0.0.1:9"


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(min_size=6, max_size=40).filter(lambda s: len(s.strip()) >= 6))
def test_the_operator_never_holds_a_value_in_clear(node: tuple[Node, str], tmp_path: Path,
                                                   value: str) -> None:
    server, db = node
    forms = {value.encode(), json.dumps(value).encode(), json.dumps(value)[1:-1].encode()}
    # Hypothesis also draws the project's own string constants ("member", "key.rotate"...),
    # which the database holds in clear as keys and record types: a value already there
    # before it is set cannot show a leak.
    before = db_bytes(db)
    assume(not any(form in before for form in forms))
    home = tmp_path / "member"
    if not keystore.path_in(home).exists():
        keystore.save(keystore.create("member"), home, PASSPHRASE, profile="interactive")
    wallet = Wallet(home, keystore.load(home, PASSPHRASE), PASSPHRASE, server.url)
    try:
        wallet.sync()
        record = wallet.set("today", value)
        assert wallet.field("today").value == value
    finally:
        wallet.close()
    dump = db_bytes(db)
    for form in forms:
        assert form not in dump, f"{value!r} found in clear in the node's database"
    assert record.id.encode("ascii")  # the record itself is stored (ids are not values)
