"""The read path's per-worker caches never serve what the chain has taken back.

Each worker keeps the signed head and each member's folded consent view (passport_api.reads):
here the caches are warmed with reads on every worker, then the member revokes (or sets a new
value) with one append, and the very next reads, on any worker, must see it.  On SQLite and
PostgreSQL, with one worker and with two.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.times import now_ms
from passport_api.schemas_access import ReadOut
from tests.api.conftest import Node
from tests.api.test_access_http import HOUR_MS, grant
from tests.conftest import fresh_db
from tests.faults.test_access_more import post_records, problem_code, read_body, signed
from wallet.fields import set_field

READS = 8  # per check: fresh connections, so both workers of a 2-worker node answer some


@pytest.fixture(scope="module", params=[
    ("sqlite", 1), ("sqlite", 2),
    pytest.param(("postgres", 1), marks=pytest.mark.postgres),
    pytest.param(("postgres", 2), marks=pytest.mark.postgres)],
    ids=lambda p: f"{p[0]}-{p[1]}w")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Node]:
    database, workers = request.param
    tmp = tmp_path_factory.mktemp("readcache")
    node = Node(tmp / "home", fresh_db(database, request, tmp), workers=workers)
    yield node
    node.stop()


def read(node: Node, service: nacl.signing.SigningKey, member: str) -> httpx.Response:
    body = read_body(member, ["today"])
    # a new connection per read: uvicorn's workers share the socket, so both get some
    with httpx.Client(base_url=node.url, timeout=30) as http:
        return http.post("/v1/reads", content=body,
                         headers=signed(service, "POST", "/v1/reads", body))


def reads(node: Node, service: nacl.signing.SigningKey, member: str) -> list[httpx.Response]:
    return [read(node, service, member) for _ in range(READS)]


def test_revoke_then_read_is_refused_with_the_caches_warm(served: Node) -> None:
    alice, service = Author(keys.generate()), keys.generate()
    today = set_field(alice, "today", "before", [])
    with httpx.Client(base_url=served.url, timeout=30) as http:
        assert post_records(http, [today.record.raw, grant(
            alice, "grant-cache-1", service, ["today"], {"today": today.sealed},
            now_ms() + HOUR_MS)], today.blobs).status_code == 201
        warm = reads(served, service, alice.did)
        assert [r.status_code for r in warm] == [200] * READS, warm[0].text
        # an unrelated member's append grows the log (new head) but leaves alice's view valid
        other = set_field(Author(keys.generate()), "today", "x", [])
        assert post_records(http, [other.record.raw], other.blobs).status_code == 201
        assert all(r.status_code == 200 for r in reads(served, service, alice.did))
        # one append by alice: the revoke, acknowledged ...
        revoke = alice.next("consent.revoke", {"grant": "grant-cache-1"}).raw
        assert post_records(http, [revoke]).status_code == 201
    # ... and no worker serves the revoked grant from its cached view
    after = reads(served, service, alice.did)
    assert [r.status_code for r in after] == [403] * READS, after[0].text
    assert {problem_code(r) for r in after} == {"forbidden"}
    assert {r.json()["fields"]["today"]["reason"] for r in after} == {"revoked"}


def test_a_new_value_is_served_at_once_and_proved_in_the_head(served: Node) -> None:
    alice, service = Author(keys.generate()), keys.generate()
    first = set_field(alice, "today", "one", [keys.did_of(service)])
    with httpx.Client(base_url=served.url, timeout=30) as http:
        assert post_records(http, [first.record.raw, grant(
            alice, "grant-cache-2", service, ["today"], {"today": first.sealed},
            now_ms() + HOUR_MS)], first.blobs).status_code == 201
        assert all(r.status_code == 200 for r in reads(served, service, alice.did))
        second = set_field(alice, "today", "two", [keys.did_of(service)])
        answer = post_records(http, [second.record.raw], second.blobs)
        assert answer.status_code == 201
        index = answer.json()["indexes"][0]
    for r in reads(served, service, alice.did):
        assert r.status_code == 200, r.text
        ReadOut.model_validate(r.json())  # the route writes ReadOut's shape by hand
        field = r.json()["fields"]["today"]
        assert field["index"] == index  # the newest value, not the cached one
        assert r.json()["tree_head"]["size"] > index  # in a head that includes it
