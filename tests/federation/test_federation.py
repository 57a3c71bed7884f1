"""Two real nodes that follow each other, node A on SQLite and node B on PostgreSQL.

A member lives on A; a service and a space live on B.  B pulls A's log, verifies every
record and serves it: the service reads granted values from B, a revoke written on A is
refused on B once pulled, a check-in on A is verified by a desk on B, B catches up after
being down, erasures travel, a planted equivocation is caught and kept, and a forged head of
A gossiped to B is refused and kept as evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.checkpoint import TreeHead, sign_tree_head
from ledger.records import Record
from ledger.store.audit import audit
from ledger.store.db import open_engine
from ledger.times import now_ms
from passport_api.client import NodeClient, NodeError
from tests.api.conftest import Node, free_port
from tests.conftest import empty_pg
from wallet import checkin, keystore
from wallet.errors import NodeRefusedError, UntrustedNodeError
from wallet.wallet import Wallet

PASS = "federation test passphrase"
DAY = 86_400_000


@dataclass
class Pair:
    a: Node
    b: Node
    tmp: Path

    def wallet(self, name: str, role: str, node: Node) -> Wallet:
        home = self.tmp / name
        store = keystore.create(role)
        keystore.save(store, home, PASS, profile="interactive")
        w = Wallet(home, store, PASS, node.url)
        w.sync()
        return w


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def has_record(node: Node, record_id: str) -> bool:
    return httpx.get(f"{node.url}/v1/records/{record_id}", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("federation")
    empty_pg(pg_database)
    pa, pb = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{pa}", f"http://127.0.0.1:{pb}"
    a = Node(tmp / "a", str(tmp / "a.sqlite"), port=pa,
             args=("--peer", url_b, "--follow-every", "0.2"))
    b = Node(tmp / "b", pg_database, port=pb, args=("--peer", url_a, "--follow-every", "0.2"))
    pair = Pair(a, b, tmp)
    yield pair
    pair.a.stop()
    pair.b.stop()  # the test that restarts B replaces it: stop the one running now


def test_values_grants_revokes_and_checkins_travel(pair: Pair) -> None:
    alice = pair.wallet("alice", "member", pair.a)
    rides = pair.wallet("rides", "service", pair.b)
    desk = pair.wallet("desk", "space", pair.b)
    alice.set("city", "Utrecht")
    alice.set("name", "Alice")
    gid = alice.grant(rides.did, ["city"], "rides", now_ms() + DAY)
    grant_id = alice.chain[-1].id
    delay = until(lambda: has_record(pair.b, grant_id), "B to pull Alice's grant")
    assert rides.read(alice.did, ["city"])["fields"]["city"]["value"] == "Utrecht"

    revoke = alice.revoke(gid)
    until(lambda: has_record(pair.b, revoke.id), "B to pull the revoke")
    with pytest.raises(NodeRefusedError, match="revoked"):
        rides.read(alice.did, ["city"])

    # A desk on B verifies a check-in Alice writes on A.
    alice.grant(desk.did, ["name"], "front desk", now_ms() + DAY)
    challenge = checkin.issue(desk)
    assert challenge.node == pair.b.url
    record = checkin.check_in(alice, challenge.token())
    assert has_record(pair.a, record.id) and has_record(pair.b, record.id)
    seen = checkin.desk_verify(desk, now_ms() - DAY)
    assert [(s["member"], s["checkin"], s["fields"]) for s in seen] == [
        (alice.did, record.id, {"name": "Alice"})]
    # The desk's attestation, written on B, reaches A too (B's log is followed by A).
    until(lambda: has_record(pair.a, seen[0]["attestation"]), "A to pull the attestation")
    assert delay < 30
    for w in (alice, rides, desk):
        w.close()


def test_a_follower_catches_up_after_being_down_and_erasures_travel(pair: Pair) -> None:
    alice = pair.wallet("alice2", "member", pair.a)
    first = alice.set("activity", "writing tests")
    until(lambda: has_record(pair.b, first.id), "B to pull")
    pair.b.stop()
    later = [alice.set("activity", f"step {i}").id for i in range(5)]
    pair.b = Node(pair.b.home, pair.b.db, port=pair.b.port, args=pair.b.args)
    until(lambda: all(has_record(pair.b, rid) for rid in later), "B to catch up")
    chain_a = httpx.get(f"{pair.a.url}/v1/members/{alice.did}/chain").json()["records"]
    chain_b = httpx.get(f"{pair.b.url}/v1/members/{alice.did}/chain").json()["records"]
    assert [r["record"] for r in chain_a] == [r["record"] for r in chain_b]

    erased = alice.erase("activity")
    assert len(erased) == 6
    home_b = pair.tmp / "alice2-on-b"  # a wallet pins one node's log key: another home
    keystore.save(alice.store, home_b, PASS, profile="interactive")
    on_b = Wallet(home_b, alice.store, PASS, pair.b.url)
    try:
        on_b.sync()

        def gone_on_b() -> bool:
            try:
                on_b.client.call("GET", f"/v1/blobs/{erased[0]}")
            except Exception as e:
                return "410" in str(e)
            return False
        until(gone_on_b, "B to erase its copy")
        # B erased on Alice's signed order, which it keeps: the same bytes as A's.
        orders = [httpx.get(f"{n.url}/v1/erasures/{erased[0]}").json() for n in (pair.a, pair.b)]
        assert orders[0] == orders[1] and '"DELETE"' in orders[0]["order"]
    finally:
        on_b.close()
        alice.close()
    peers = httpx.get(f"{pair.b.url}/v1/federation/peers").json()["peers"]
    assert [p["url"] for p in peers] == [pair.a.url] and peers[0]["last_error"] is None


def test_a_read_served_by_a_follower_is_listed_by_the_members_wallet(pair: Pair) -> None:
    alice = pair.wallet("alice3", "member", pair.a)
    rides = pair.wallet("rides3", "service", pair.b)
    try:
        alice.set("city", "Leiden")
        alice.grant(rides.did, ["city"], "rides", now_ms() + DAY)
        until(lambda: has_record(pair.b, alice.chain[-1].id), "B to pull the grant")
        served = rides.read(alice.did, ["city"])  # served by B, the follower
        listed = alice.receipts()  # Alice's wallet talks to A
        from_b = [r for r in listed if r["node"] == pair.b.url]
        assert [(r["id"], r["service"], r["node_sig_verified"]) for r in from_b] == [
            (served["receipt"], rides.did, True)]
        assert [f["field"] for f in from_b[0]["fields"]] == ["city"]
        assert not [r for r in listed if r["node"] == pair.a.url]  # A served none
    finally:
        alice.close()
        rides.close()
    # Both nodes' databases pass the audit: B's erasures carry orders, receipts are chained.
    for db in (pair.a.db, pair.b.db):
        engine = open_engine(db, create=False)
        try:
            report = audit(engine)
        finally:
            engine.dispose()
        assert report.ok, report.problems


def _plant(pair: Pair) -> tuple[Author, Record, Record]:
    """Bob's two rival records for one seq, one stored on each node.

    Each node follows the other every 0.2 s, so A may pull B's rival before Bob's own record
    reaches A (A then refuses it as an equivocation, 409): then a new Bob tries again.
    """
    for _ in range(5):
        bob = Author(keys.generate())
        first = bob.next("passport.clear", {"field": "city"})
        assert httpx.post(f"{pair.a.url}/v1/records", json={"record": first.raw.decode()}
                          ).status_code == 201
        until(lambda first=first: has_record(pair.b, first.id), "B to pull Bob's first record")
        rival = Author(bob.signing_key, did=bob.did, seq=bob.seq, head=bob.head)
        on_b = rival.next("passport.clear", {"field": "name"})
        on_a = bob.next("passport.clear", {"field": "city"})
        assert on_a.seq == on_b.seq and on_a.id != on_b.id
        assert httpx.post(f"{pair.b.url}/v1/records", json={"record": on_b.raw.decode()}
                          ).status_code == 201
        got = httpx.post(f"{pair.a.url}/v1/records", json={"record": on_a.raw.decode()})
        if got.status_code == 201:
            return bob, on_a, on_b
        assert got.status_code == 409 and got.json()["type"].endswith("equivocation")
    raise AssertionError("A pulled B's rival first five times in a row")


def test_a_planted_equivocation_is_caught_and_kept(pair: Pair) -> None:
    bob, on_a, on_b = _plant(pair)

    def caught() -> bool:
        found = httpx.get(f"{pair.b.url}/v1/equivocations").json()["equivocations"]
        return any(e["author"] == bob.did and e["seq"] == on_a.seq for e in found)
    until(caught, "B to catch the equivocation")
    found = [e for e in httpx.get(f"{pair.b.url}/v1/equivocations").json()["equivocations"]
             if e["author"] == bob.did]
    assert {found[0]["stored"], found[0]["rival"]} == {on_b.raw.decode(), on_a.raw.decode()}
    assert not has_record(pair.b, on_a.id)  # B keeps serving the record it had first
    until(lambda: httpx.get(f"{pair.b.url}/v1/federation/peers").json()["peers"][0]["refused"]
          >= 1, "B to count the refused record")


def test_a_forged_head_gossiped_to_a_follower_is_caught(pair: Pair) -> None:
    log_key = nacl.signing.SigningKey(bytes.fromhex(
        (pair.a.home / "log.key").read_text().strip()))
    head = httpx.get(f"{pair.a.url}/v1/log/head").json()
    until(lambda: httpx.get(f"{pair.b.url}/v1/federation/peers").json()["peers"][0]["head"]
          is not None, "B to hold a head of A")
    # A head signed with A's key but for a history B never saw: what a split view looks like.
    forged = sign_tree_head(TreeHead(head["origin"], head["size"], b"\x07" * 32, now_ms()),
                            log_key).decode()
    answer = httpx.post(f"{pair.b.url}/v1/gossip/heads", json={
        "checkpoint": forged, "log_key": bytes(log_key.verify_key).hex()}).json()
    assert answer["known"] is True and answer["consistent"] is False
    forks = httpx.get(f"{pair.b.url}/v1/federation/forks").json()["forks"]
    assert any(forged in (f["note_a"], f["note_b"]) for f in forks)
    honest = httpx.post(f"{pair.b.url}/v1/gossip/heads", json={
        "checkpoint": head["checkpoint"], "log_key": bytes(log_key.verify_key).hex()}).json()
    assert honest["consistent"] is True
    bad = httpx.post(f"{pair.b.url}/v1/gossip/heads", json={
        "checkpoint": forged, "log_key": "00" * 32})
    assert bad.status_code == 422 and bad.json()["type"].endswith("invalid-gossip")


def test_values_go_only_to_configured_peers(pair: Pair) -> None:
    stranger = keys.generate()
    with NodeClient(pair.a.url, stranger) as c, pytest.raises(NodeError) as info:
        c.call("POST", "/v1/federation/blobs", json_body={"names": ["sha256:" + "00" * 32]})
    assert info.value.status == 403 and "peer" in info.value.problem["detail"]


def test_a_wallet_gossips_its_head_to_a_follower(pair: Pair) -> None:
    carol = pair.wallet("carol", "member", pair.a)
    carol.set("city", "Delft")
    carol.sync()
    until(lambda: httpx.get(f"{pair.b.url}/v1/federation/peers").json()["peers"][0]["head"]
          is not None, "B to hold a head of A")
    verdict = carol.gossip(pair.b.url)
    assert verdict["known"] is True and verdict["consistent"] is True
    # A head of A that A never showed B: the wallet is told its node is not to be trusted.
    log_key = nacl.signing.SigningKey(bytes.fromhex(
        (pair.a.home / "log.key").read_text().strip()))
    carol.state.checkpoint = sign_tree_head(TreeHead(
        carol.state.origin or "", carol.state.size, b"\x09" * 32, now_ms()), log_key).decode()
    with pytest.raises(UntrustedNodeError, match="different history"):
        carol.gossip(pair.b.url)
    carol.close()
