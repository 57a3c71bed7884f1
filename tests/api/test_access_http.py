"""Signed calls over real HTTP: the authorization matrix, receipts, blobs and check-in."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import nacl.signing
import pytest
import sqlalchemy as sa

from ledger import keys, seal
from ledger.chain import Author
from ledger.encoding import b64url_decode, b64url_encode, canonical
from ledger.store import schema as t
from ledger.times import format_ts, now_ms
from passport_api.client import NodeClient, NodeError
from passport_api.reads import RECEIPT_DOMAIN
from passport_api.routes.access import nonce_hash_of
from passport_api.signing import sign_request
from tests.api.conftest import Node
from wallet.fields import set_field

HOUR_MS = 3600_000


@dataclass
class World:
    alice: Author
    bob: Author
    services: dict[str, nacl.signing.SigningKey]
    today_blob: str


def grant(member: Author, gid: str, service: nacl.signing.SigningKey, fields: list[str],
          sealed: dict[str, seal.Sealed], expires_ms: int) -> bytes:
    did = keys.did_of(service)
    return member.next("consent.grant", {
        "grant": gid, "grantee": did, "fields": fields, "purpose": "tests",
        "expires": format_ts(expires_ms),
        "keys": {f: seal.wrap_key(sealed[f].content_key, did) for f in fields}}).raw


@pytest.fixture(scope="module")
def world(node: Node) -> World:
    alice, bob = Author(keys.generate()), Author(keys.generate())
    services = {name: keys.generate() for name in
                ("matcher", "rides", "old", "stranger")}
    today = set_field(alice, "today", "Designing a ride-sharing service", [])
    leaving = set_field(alice, "leaving_at", "17:30", [])
    sealed = {"today": today.sealed, "leaving_at": leaving.sealed}
    now = now_ms()
    raws = [today.record.raw, leaving.record.raw,
            grant(alice, "grant-matcher", services["matcher"], ["today"], sealed, now + HOUR_MS),
            grant(alice, "grant-rides-1", services["rides"], ["today"], sealed, now + HOUR_MS),
            grant(alice, "grant-old-001", services["old"], ["today"], sealed, now - 1)]
    raws.append(alice.next("consent.revoke", {"grant": "grant-rides-1"}).raw)
    bob_value = set_field(bob, "today", "bob's day", [])
    blobs = today.blobs | leaving.blobs | bob_value.blobs
    with httpx.Client(base_url=node.url) as http:
        r = http.post("/v1/records/batch", json={
            "records": [r.decode() for r in [*raws, bob_value.record.raw]],
            "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})
        assert r.status_code == 201, r.text
    return World(alice, bob, services, today.sealed.blob_name)


def client(node: Node, key: nacl.signing.SigningKey) -> NodeClient:
    return NodeClient(node.url, key)


@pytest.mark.parametrize(("who", "fields", "reason"), [
    ("rides", ["today"], "revoked"),
    ("old", ["today"], "expired"),
    ("stranger", ["today"], "no-grant"),
    ("matcher", ["leaving_at"], "not-granted"),
    ("matcher", ["today", "leaving_at"], "not-granted"),
    ("unknown", ["today"], "no-grant"),
])
def test_refused_reads(node: Node, world: World, who: str, fields: list[str],
                       reason: str) -> None:
    key = world.services.get(who) or keys.generate()
    with client(node, key) as c, pytest.raises(NodeError) as info:
        c.read(world.alice.did, fields)
    assert info.value.status == 403 and info.value.code == "forbidden"
    reasons = {f: r["reason"] for f, r in info.value.problem["fields"].items()}
    assert reason in reasons.values()


def test_granted_read_is_verified_decrypted_and_receipted(node: Node, world: World) -> None:
    with client(node, world.services["matcher"]) as c:
        result = c.read(world.alice.did, ["today"])
    assert result.plain() == {"today": "Designing a ride-sharing service"}
    with client(node, world.alice.signing_key) as mine:
        listed = mine.receipts(world.alice.did)
    ours = [r for r in listed if r["id"] == result.receipt_id]
    assert len(ours) == 1
    receipt = json.loads(ours[0]["receipt"])
    assert receipt["service"] == keys.did_of(world.services["matcher"])
    assert receipt["fields"][0]["field"] == "today"
    assert receipt["request"]["signature"] and receipt["request"]["signature-input"]
    log_key = nacl.signing.SigningKey(bytes.fromhex((node.home / "log.key").read_text().strip()))
    assert canonical(receipt) == ours[0]["receipt"].encode()
    assert keys.verify(bytes(log_key.verify_key), RECEIPT_DOMAIN, canonical(receipt),
                       b64url_decode(ours[0]["node_sig"]))


def test_only_the_member_lists_receipts(node: Node, world: World) -> None:
    for key in (world.bob.signing_key, world.services["matcher"]):
        with client(node, key) as c, pytest.raises(NodeError) as info:
            c.receipts(world.alice.did)
        assert info.value.status == 403


def test_unsigned_stale_and_replayed_requests_are_refused(node: Node, world: World) -> None:
    path = f"/v1/members/{world.alice.did}/receipts"
    with httpx.Client(base_url=node.url) as http:
        assert http.get(path).status_code == 401
        stale = sign_request(world.alice.signing_key, "GET", path, "", b"",
                             created=int(time.time()) - 3600)
        assert http.get(path, headers=stale).status_code == 401
        fresh = sign_request(world.alice.signing_key, "GET", path, "", b"")
        assert http.get(path, headers=fresh).status_code == 200
        again = http.get(path, headers=fresh)
        assert again.status_code == 401 and "already used" in again.json()["detail"]
        other_path = sign_request(world.alice.signing_key, "GET", "/v1/blobs/x", "", b"")
        assert http.get(path, headers=other_path).status_code == 401


def test_blobs_for_their_author_only_and_erasure(node: Node, world: World) -> None:
    name = world.today_blob
    with client(node, world.alice.signing_key) as alice:
        assert alice.call("GET", f"/v1/blobs/{name}").content
    for key in (world.bob.signing_key, world.services["matcher"]):
        with client(node, key) as c:
            for method in ("GET", "DELETE"):
                with pytest.raises(NodeError) as info:
                    c.call(method, f"/v1/blobs/{name}")
                assert info.value.status == 403
    bob_blob = "sha256:" + "00" * 32
    with client(node, world.bob.signing_key) as bob, pytest.raises(NodeError) as info:
        bob.call("GET", f"/v1/blobs/{bob_blob}")
    assert info.value.status == 404


def test_checkin_challenge_round_trip(node: Node, world: World) -> None:
    space, other_space = keys.generate(), keys.generate()
    member = Author(keys.generate())
    with client(node, space) as desk, client(node, other_space) as other:
        nonce = desk.call("POST", "/v1/checkin/challenges").json()["nonce"]
        sealed = {"ct": b64url_encode(b"sealed space and nonce"),
                  "keys": [b64url_encode(b"k" * 48)]}
        record = member.next("checkin", {"nonce_hash": nonce_hash_of(nonce), "sealed": sealed})
        desk.append(record.raw)
        with pytest.raises(NodeError) as info:
            other.call("POST", "/v1/checkin/verify", json_body={"record_id": record.id})
        assert info.value.code == "invalid-challenge"
        ok = desk.call("POST", "/v1/checkin/verify", json_body={"record_id": record.id}).json()
        assert ok["member"] == member.did and ok["record"]["id"] == record.id
        second = member.next("checkin", {"nonce_hash": nonce_hash_of(nonce), "sealed": sealed})
        desk.append(second.raw)
        with pytest.raises(NodeError) as info:
            desk.call("POST", "/v1/checkin/verify", json_body={"record_id": second.id})
        assert "already used" in info.value.problem["detail"]


def test_erasure_by_the_author(node: Node) -> None:
    member = Author(keys.generate())
    update = set_field(member, "today", "short-lived", [])
    with client(node, member.signing_key) as c:
        c.append(update.record.raw, update.blobs)
        name = update.sealed.blob_name
        c.call("DELETE", f"/v1/blobs/{name}")
        with pytest.raises(NodeError) as info:
            c.call("GET", f"/v1/blobs/{name}")
        assert info.value.status == 410


def test_erasing_twice_is_a_no_op_and_unknown_blobs_are_not_found(node: Node) -> None:
    member = Author(keys.generate())
    update = set_field(member, "today", "short-lived", [])
    with client(node, member.signing_key) as c:
        c.append(update.record.raw, update.blobs)
        name = update.sealed.blob_name
        assert c.call("DELETE", f"/v1/blobs/{name}").status_code == 204
        assert c.call("DELETE", f"/v1/blobs/{name}").status_code == 204
        with pytest.raises(NodeError) as info:
            c.call("GET", f"/v1/blobs/{name}")
        assert (info.value.status, info.value.code) == (410, "blob-erased")
        for bad in ("sha256:" + "00" * 32, "not-a-blob-name"):
            with pytest.raises(NodeError) as info:
                c.call("DELETE", f"/v1/blobs/{bad}")
            assert (info.value.status, info.value.code) == (404, "not-found")


def test_receipts_page_by_id(node: Node, world: World) -> None:
    with client(node, world.services["matcher"]) as c:
        ids = [c.read(world.alice.did, ["today"]).receipt_id for _ in range(3)]
    path = f"/v1/members/{world.alice.did}/receipts"
    with client(node, world.alice.signing_key) as mine:
        first = mine.call("GET", path, params={"after_id": ids[0] - 1, "limit": 2}).json()
        assert [r["id"] for r in first["receipts"]] == ids[:2]
        assert first["next_after_id"] == ids[1]
        rest = mine.call("GET", path, params={"after_id": ids[1], "limit": 2}).json()
        assert [r["id"] for r in rest["receipts"]] == ids[2:]
        assert rest["next_after_id"] is None
        for params, where in (({"after_id": 2**64}, "after_id"), ({"limit": 0}, "limit"),
                              ({"limit": 1001}, "limit")):
            with pytest.raises(NodeError) as info:
                mine.call("GET", path, params=params)
            assert info.value.code == "bad-request" and where in info.value.problem["detail"]


def test_checkin_verify_refusals(node: Node, world: World) -> None:
    space = keys.generate()
    with client(node, space) as desk:
        not_checkin = world.alice.next("passport.clear", {"field": "nickname"})
        desk.append(not_checkin.raw)
        cases = [({"record_id": not_checkin.id}, 422, "invalid-challenge", "not a checkin"),
                 ({"record_id": "sha256:" + "ef" * 32}, 404, "not-found", "no record"),
                 ({"record_id": "nonsense"}, 400, "bad-request", "record_id"),
                 ({}, 400, "bad-request", "record_id")]
        for body, status, code, words in cases:
            with pytest.raises(NodeError) as info:
                desk.call("POST", "/v1/checkin/verify", json_body=body)
            assert (info.value.status, info.value.code) == (status, code)
            assert words in info.value.problem["detail"]


def test_an_expired_challenge_is_refused(node: Node) -> None:
    """Expiry without sleeping: the challenge's deadline is moved into the past in the store."""
    space, member = keys.generate(), Author(keys.generate())
    with client(node, space) as desk:
        nonce = desk.call("POST", "/v1/checkin/challenges").json()["nonce"]
        url = node.db if "://" in node.db else f"sqlite:///{node.db}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(t.challenges.update()
                         .where(t.challenges.c.space == keys.did_of(space))
                         .values(expires_ms=0))
        engine.dispose()
        record = member.next("checkin", {"nonce_hash": nonce_hash_of(nonce), "sealed": {
            "ct": b64url_encode(b"sealed"), "keys": [b64url_encode(b"k" * 48)]}})
        desk.append(record.raw)
        with pytest.raises(NodeError) as info:
            desk.call("POST", "/v1/checkin/verify", json_body={"record_id": record.id})
        assert info.value.code == "invalid-challenge"
        assert "expired" in info.value.problem["detail"]


def test_desk_challenge_listing_refuses_huge_since(node: Node) -> None:
    """Regression: since_ms past 2^63 was a 500 (SQLite OverflowError, PostgreSQL bigint)."""
    with client(node, keys.generate()) as desk, pytest.raises(NodeError) as info:
        desk.call("GET", "/v1/checkin/challenges", params={"since_ms": 2**64})
    assert (info.value.status, info.value.code) == (400, "bad-request")
