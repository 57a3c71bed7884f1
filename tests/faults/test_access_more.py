"""Access attacks the authorization matrix (tests/api/test_authz_matrix.py) does not make.

The matrix covers every endpoint × caller (member, other member, granted, revoked, expired,
unknown) and a replayed, unsigned or stale request.  Here: a signature moved onto another
body, path, method or query (with its digest recomputed or not), which must neither be served
nor spend the nonce; a key claiming another's did; a signed request raced in parallel, served
once; a service reading another member with its grant; a member writing into another member's
chain; a key rotated away or a device removed, which can no longer write nor sign requests.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.encoding import b64url_encode
from ledger.records import sign_record
from ledger.times import now_ms
from passport_api.signing import content_digest, sign_request
from tests.api.conftest import Node
from tests.api.test_access_http import HOUR_MS, grant
from wallet.fields import set_field

RACERS = 8


@dataclass
class Scene:
    alice: Author
    bob: Author
    service: nacl.signing.SigningKey


def post_records(http: httpx.Client, raws: list[bytes], blobs: dict[str, bytes] | None = None
                 ) -> httpx.Response:
    return http.post("/v1/records/batch", json={
        "records": [r.decode() for r in raws],
        "blobs": {k: b64url_encode(v) for k, v in (blobs or {}).items()}})


@pytest.fixture(scope="module")
def scene(node: Node) -> Scene:
    alice, bob, service = Author(keys.generate()), Author(keys.generate()), keys.generate()
    today = set_field(alice, "today", "alice's day", [])
    bobs = set_field(bob, "today", "bob's day", [])
    raws = [today.record.raw, grant(alice, "grant-more-01", service, ["today"],
                                    {"today": today.sealed}, now_ms() + HOUR_MS),
            bobs.record.raw]
    with httpx.Client(base_url=node.url, timeout=30) as http:
        r = post_records(http, raws, today.blobs | bobs.blobs)
        assert r.status_code == 201, r.text
    return Scene(alice, bob, service)


def signed(key: nacl.signing.SigningKey, method: str, path: str, body: bytes = b"",
           query: str = "", **kw: object) -> dict[str, str]:
    headers = sign_request(key, method, path, query, body, **kw)  # type: ignore[arg-type]
    return headers | ({"content-type": "application/json"} if body else {})


def read_body(member: str, fields: list[str]) -> bytes:
    return httpx.Request("POST", "/", json={"member": member, "fields": fields}).content


def receipts_of(http: httpx.Client, member: Author) -> int:
    path = f"/v1/members/{member.did}/receipts"
    r = http.get(path, headers=signed(member.signing_key, "GET", path))
    assert r.status_code == 200, r.text
    return len(r.json()["receipts"])


def problem_code(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


def test_a_signature_moved_onto_another_request_is_refused_and_spends_nothing(
        node: Node, scene: Scene) -> None:
    alice = scene.alice.did
    body = read_body(alice, ["today"])
    headers = signed(scene.service, "POST", "/v1/reads", body)
    other_body = read_body(scene.bob.did, ["today"])
    moved = [
        ("another member", "POST", "/v1/reads", "", other_body, {}),
        ("another field list", "POST", "/v1/reads", "", read_body(alice, ["today", "city"]), {}),
        ("digest recomputed", "POST", "/v1/reads", "", other_body,
         {"content-digest": content_digest(other_body)}),
        ("another path", "POST", "/v1/checkin/verify", "", body, {}),
        ("another method", "PUT", "/v1/reads", "", body, {}),
        ("a query added", "POST", "/v1/reads", "limit=1", body, {}),
        ("a trailing slash", "POST", "/v1/reads/", "", body, {}),
    ]
    with httpx.Client(base_url=node.url, timeout=30) as http:
        before = receipts_of(http, scene.alice)
        for what, method, path, query, content, edit in moved:
            r = http.request(method, path + ("?" + query if query else ""), content=content,
                             headers=headers | edit)
            # 307: FastAPI's redirect from "/v1/reads/" to the path that was signed; a client
            # that follows it sends the genuine request, which it could have sent anyway.
            assert r.status_code in (307, 401, 404, 405), (what, r.status_code, r.text)
            if r.status_code == 401:
                assert problem_code(r) == "bad-request-signature", what
        assert receipts_of(http, scene.alice) == before  # nothing was served
        # The refusals did not spend the nonce: the genuine request is served, once.
        assert http.post("/v1/reads", content=body, headers=headers).status_code == 200
        again = http.post("/v1/reads", content=body, headers=headers)
        assert (again.status_code, problem_code(again)) == (401, "replayed-request")
        assert receipts_of(http, scene.alice) == before + 1


def test_a_key_cannot_claim_another_did(node: Node, scene: Scene) -> None:
    path = f"/v1/members/{scene.alice.did}/receipts"
    with httpx.Client(base_url=node.url, timeout=30) as http:
        for key in (scene.bob.signing_key, scene.service):
            r = http.get(path, headers=signed(key, "GET", path, keyid=scene.alice.did))
            assert (r.status_code, problem_code(r)) == (401, "bad-request-signature")


def test_a_signed_request_raced_in_parallel_is_served_once(node: Node, scene: Scene) -> None:
    body = read_body(scene.alice.did, ["today"])
    headers = signed(scene.service, "POST", "/v1/reads", body)
    with httpx.Client(base_url=node.url, timeout=60) as http:
        before = receipts_of(http, scene.alice)
        with ThreadPoolExecutor(RACERS) as pool:
            answers = list(pool.map(lambda _: httpx.post(node.url + "/v1/reads", content=body,
                                                         headers=headers, timeout=60),
                                    range(RACERS)))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] + [401] * (RACERS - 1), statuses
        assert {problem_code(r) for r in answers if r.status_code == 401} == {"replayed-request"}
        assert receipts_of(http, scene.alice) == before + 1


def test_a_grant_reads_only_its_own_member(node: Node, scene: Scene) -> None:
    body = read_body(scene.bob.did, ["today"])
    with httpx.Client(base_url=node.url, timeout=30) as http:
        r = http.post("/v1/reads", content=body, headers=signed(scene.service, "POST",
                                                                "/v1/reads", body))
    assert (r.status_code, problem_code(r)) == (403, "forbidden")
    assert r.json()["fields"]["today"]["reason"] == "no-grant"


def test_a_member_cannot_write_into_another_members_chain(node: Node) -> None:
    alice, mallory = Author(keys.generate()), Author(keys.generate())
    with httpx.Client(base_url=node.url, timeout=30) as http:
        assert post_records(http, [alice.next("passport.clear", {"field": "a"}).raw]
                            ).status_code == 201
        size = http.get("/v1/health").json()["size"]
        forged = [
            # mallory's key, alice's did, the right seq and prev: a perfect-looking record
            sign_record(mallory.signing_key, author=alice.did, seq=alice.seq + 1,
                        prev=alice.head, record_type="passport.clear", body={"field": "a"}),
            # a brand-new chain opened in a did whose key mallory does not hold
            sign_record(mallory.signing_key, author=keys.did_of(keys.generate()), seq=1,
                        prev=None, record_type="passport.clear", body={"field": "a"}),
        ]
        for record in forged:
            r = http.post("/v1/records", json={"record": record.raw.decode()})
            assert (r.status_code, problem_code(r)) == (422, "bad-signature"), r.text
            # inside a batch with a good record: the whole batch is refused
            good = mallory.next("passport.clear", {"field": "b"})
            r = post_records(http, [good.raw, record.raw])
            assert (r.status_code, problem_code(r)) == (422, "bad-signature"), r.text
            mallory.seq, mallory.head = good.seq - 1, good.prev
        assert http.get("/v1/health").json()["size"] == size
        chain = http.get(f"/v1/members/{alice.did}/chain").json()["records"]
        assert len(chain) == 1


def test_a_rotated_away_key_can_no_longer_write_or_sign_requests(node: Node) -> None:
    old, new, after = keys.generate(), keys.generate(), keys.generate()
    member = Author(old)
    with httpx.Client(base_url=node.url, timeout=30) as http:
        assert post_records(http, [
            member.next("passport.clear", {"field": "a"}).raw,
            member.rotate(new, keys.key_commitment(bytes(after.verify_key))).raw,
        ]).status_code == 201
        stale_key_record = sign_record(old, author=member.did, seq=member.seq + 1,
                                       prev=member.head, record_type="passport.clear",
                                       body={"field": "a"})
        r = http.post("/v1/records", json={"record": stale_key_record.raw.decode()})
        assert (r.status_code, problem_code(r)) == (422, "bad-signature"), r.text
        path = f"/v1/members/{member.did}/receipts"
        r = http.get(path, headers=signed(old, "GET", path))
        assert (r.status_code, problem_code(r)) == (401, "bad-request-signature")
        r = http.get(path, headers=signed(new, "GET", path, keyid=member.did))
        assert r.status_code == 200, r.text  # the key in force speaks for the did
        assert post_records(http, [member.next("passport.clear", {"field": "a"}).raw]
                            ).status_code == 201


def test_a_removed_device_can_no_longer_write(node: Node) -> None:
    member, device = Author(keys.generate()), keys.generate()
    with httpx.Client(base_url=node.url, timeout=30) as http:
        assert post_records(http, [
            member.next("device.add", {"device": keys.did_of(device), "label": "phone"}).raw,
            member.next("passport.clear", {"field": "a"}, signing_key=device).raw,
            member.next("device.remove", {"device": keys.did_of(device)}).raw,
        ]).status_code == 201
        late = sign_record(device, author=member.did, seq=member.seq + 1, prev=member.head,
                           record_type="passport.clear", body={"field": "a"})
        r = http.post("/v1/records", json={"record": late.raw.decode()})
        assert (r.status_code, problem_code(r)) == (422, "bad-signature"), r.text
        path = f"/v1/members/{member.did}/receipts"
        r = http.get(path, headers=signed(device, "GET", path, keyid=member.did))
        assert (r.status_code, problem_code(r)) == (401, "bad-request-signature")


def test_a_signature_from_the_future_or_too_long_lived_is_refused(node: Node,
                                                                  scene: Scene) -> None:
    path = f"/v1/members/{scene.alice.did}/receipts"
    now = int(time.time())
    with httpx.Client(base_url=node.url, timeout=30) as http:
        for kw in ({"created": now + 3600}, {"ttl_s": 3600}, {"ttl_s": 0}):
            r = http.get(path, headers=signed(scene.alice.signing_key, "GET", path, **kw))
            assert (r.status_code, problem_code(r)) == (401, "stale-request"), kw


def test_a_scoped_read_signed_by_a_removed_or_rotated_away_key_is_refused_at_once(
        node: Node) -> None:
    """/v1/reads checks the signature in its own worker thread (passport_api/reads.py): the
    service's keys are read there on every request, so a key it dropped is refused on the
    very next read, however warm the node's caches are."""
    alice, service_key, device = Author(keys.generate()), keys.generate(), keys.generate()
    new, after = keys.generate(), keys.generate()
    service = Author(service_key)
    today = set_field(alice, "today", "alice's day", [])
    body = read_body(alice.did, ["today"])

    def read(key: nacl.signing.SigningKey) -> httpx.Response:
        return http.post("/v1/reads", content=body,
                         headers=signed(key, "POST", "/v1/reads", body, keyid=service.did))

    with httpx.Client(base_url=node.url, timeout=30) as http:
        assert post_records(http, [
            today.record.raw,
            grant(alice, "grant-keys-01", service_key, ["today"], {"today": today.sealed},
                  now_ms() + HOUR_MS),
            service.next("device.add", {"device": keys.did_of(device), "label": "box"}).raw,
        ], today.blobs).status_code == 201
        for _ in range(2):  # the caches warm, each read served
            assert read(device).status_code == 200
            assert read(service_key).status_code == 200
        assert post_records(http, [
            service.next("device.remove", {"device": keys.did_of(device)}).raw]
        ).status_code == 201
        r = read(device)
        assert (r.status_code, problem_code(r)) == (401, "bad-request-signature"), r.text
        assert read(service_key).status_code == 200
        assert post_records(http, [
            service.rotate(new, keys.key_commitment(bytes(after.verify_key))).raw]
        ).status_code == 201
        r = read(service_key)
        assert (r.status_code, problem_code(r)) == (401, "bad-request-signature"), r.text
        assert read(new).status_code == 200  # the key in force speaks for the service
