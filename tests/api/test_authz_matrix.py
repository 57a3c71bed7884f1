"""The authorization matrix, over real HTTP: every signed endpoint × every kind of caller.

One table says, for each endpoint and caller, the status and problem type the node must answer.
Callers: the member who owns the passport (alice), another member (bob), a service with a live
grant, a service whose grant was revoked, a service whose grant expired, a key the node has never
seen, and the entitled caller's request three ways broken: replayed, unsigned, stale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.encoding import b64url_encode
from ledger.times import now_ms
from passport_api.routes.access import nonce_hash_of
from passport_api.signing import sign_request
from tests.api.conftest import Node
from tests.api.test_access_http import HOUR_MS, grant
from wallet.fields import set_field

PROBLEM = "application/problem+json"
FORBIDDEN = (403, "forbidden")
BROKEN = {"replayed": (401, "replayed-request"), "unsigned": (401, "signature-required"),
          "stale": (401, "stale-request")}
WRONG_SPACE = (422, "invalid-challenge")

# endpoint → caller → (status, problem code or None for success)
MATRIX: dict[str, dict[str, tuple[int, str | None]]] = {
    "reads": {"member": FORBIDDEN, "other-member": FORBIDDEN, "granted": (200, None),
              "revoked": FORBIDDEN, "expired": FORBIDDEN, "unknown": FORBIDDEN, **BROKEN},
    "receipts": {"member": (200, None), "other-member": FORBIDDEN, "granted": FORBIDDEN,
                 "revoked": FORBIDDEN, "expired": FORBIDDEN, "unknown": FORBIDDEN, **BROKEN},
    "blob-get": {"member": (200, None), "other-member": FORBIDDEN, "granted": FORBIDDEN,
                 "revoked": FORBIDDEN, "expired": FORBIDDEN, "unknown": FORBIDDEN, **BROKEN},
    "blob-delete": {"member": (204, None), "other-member": FORBIDDEN, "granted": FORBIDDEN,
                    "revoked": FORBIDDEN, "expired": FORBIDDEN, "unknown": FORBIDDEN,
                    **BROKEN},
    "challenge": {"member": (201, None), "other-member": (201, None), "granted": (201, None),
                  "revoked": (201, None), "expired": (201, None), "unknown": (201, None),
                  **BROKEN},
    # The check-in answers a challenge of the granted service's desk: no one else may verify it.
    "checkin-verify": {"member": WRONG_SPACE, "other-member": WRONG_SPACE,
                       "granted": (200, None), "revoked": WRONG_SPACE, "expired": WRONG_SPACE,
                       "unknown": WRONG_SPACE, **BROKEN},
}
# Whose request is replayed, unsigned or made stale: the caller the endpoint would serve.
ENTITLED = {"reads": "granted", "receipts": "member", "blob-get": "member",
            "blob-delete": "member", "challenge": "member", "checkin-verify": "granted"}
# Why /v1/reads refuses each caller (ledger.consent reasons).
READ_REFUSAL = {"member": "no-grant", "other-member": "no-grant", "revoked": "revoked",
                "expired": "expired", "unknown": "no-grant"}
CASES = [(endpoint, who, status, code) for endpoint, row in MATRIX.items()
         for who, (status, code) in row.items()]


@dataclass
class Parties:
    alice: Author
    keys: dict[str, nacl.signing.SigningKey]
    blob: str
    checkin_id: str


@pytest.fixture(scope="module")
def parties(node: Node) -> Parties:
    alice, bob = Author(keys.generate()), Author(keys.generate())
    services = {name: keys.generate() for name in ("granted", "revoked", "expired")}
    today = set_field(alice, "today", "in the matrix", [])
    now = now_ms()
    raws = [today.record.raw,
            grant(alice, "grant-live-01", services["granted"], ["today"],
                  {"today": today.sealed}, now + HOUR_MS),
            grant(alice, "grant-gone-01", services["revoked"], ["today"],
                  {"today": today.sealed}, now + HOUR_MS),
            grant(alice, "grant-old-001", services["expired"], ["today"],
                  {"today": today.sealed}, now - 1)]
    raws.append(alice.next("consent.revoke", {"grant": "grant-gone-01"}).raw)
    bob_value = set_field(bob, "today", "bob's", [])
    with httpx.Client(base_url=node.url) as http:
        r = http.post("/v1/records/batch", json={
            "records": [r.decode() for r in [*raws, bob_value.record.raw]],
            "blobs": {k: b64url_encode(v) for k, v in (today.blobs | bob_value.blobs).items()}})
        assert r.status_code == 201, r.text
        path = "/v1/checkin/challenges"
        issued = http.post(path, headers=sign_request(services["granted"], "POST", path, "", b""))
        assert issued.status_code == 201, issued.text
        visitor = Author(keys.generate())
        checkin = visitor.next("checkin", {
            "nonce_hash": nonce_hash_of(issued.json()["nonce"]),
            "sealed": {"ct": b64url_encode(b"sealed"), "keys": [b64url_encode(b"k" * 48)]}})
        assert http.post("/v1/records", json={"record": checkin.raw.decode()}).status_code == 201
    return Parties(alice, {"member": alice.signing_key, "other-member": bob.signing_key,
                           **services}, today.sealed.blob_name, checkin.id)


def fresh_blob(node: Node, parties: Parties) -> str:
    """A value of alice's of its own, so that erasing it leaves the others alone."""
    update = set_field(parties.alice, "scratch", "to be erased", [])
    r = httpx.post(node.url + "/v1/records", json={
        "record": update.record.raw.decode(),
        "blobs": {k: b64url_encode(v) for k, v in update.blobs.items()}})
    assert r.status_code == 201, r.text
    return update.sealed.blob_name


def request_for(endpoint: str, node: Node, parties: Parties) -> tuple[str, str, Any]:
    alice = parties.alice.did
    if endpoint == "reads":
        return "POST", "/v1/reads", {"member": alice, "fields": ["today"]}
    if endpoint == "receipts":
        return "GET", f"/v1/members/{alice}/receipts", None
    if endpoint == "blob-get":
        return "GET", f"/v1/blobs/{parties.blob}", None
    if endpoint == "blob-delete":
        return "DELETE", f"/v1/blobs/{fresh_blob(node, parties)}", None
    if endpoint == "challenge":
        return "POST", "/v1/checkin/challenges", None
    assert endpoint == "checkin-verify"
    return "POST", "/v1/checkin/verify", {"record_id": parties.checkin_id}


@pytest.mark.parametrize(("endpoint", "who", "status", "code"), CASES,
                         ids=[f"{e}-{w}" for e, w, _, _ in CASES])
def test_authorization_matrix(node: Node, parties: Parties, endpoint: str, who: str,
                              status: int, code: str | None) -> None:
    method, path, payload = request_for(endpoint, node, parties)
    body = b"" if payload is None else httpx.Request("POST", "/", json=payload).content
    signer = parties.keys.get(ENTITLED[endpoint] if who in BROKEN else who) or keys.generate()
    created = int(time.time()) - 3600 if who == "stale" else None
    headers = {} if who == "unsigned" else sign_request(signer, method, path, "", body,
                                                        created=created)
    if payload is not None:
        headers["content-type"] = "application/json"
    with httpx.Client(base_url=node.url, timeout=30) as http:
        response = http.request(method, path, content=body, headers=headers)
        if who == "replayed":
            assert response.status_code < 300, response.text  # the first use is served
            response = http.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    if code is None:
        assert not response.headers.get("content-type", "").startswith(PROBLEM)
        return
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"] == f"/v1/problems/{code}" and problem["status"] == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Signature")
    if endpoint == "reads" and status == 403:
        assert problem["fields"]["today"]["reason"] == READ_REFUSAL[who]
