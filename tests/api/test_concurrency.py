"""Several node worker processes on one PostgreSQL database, and clients in other processes.

Concurrent appends by many members and racing appends by one member for the same seq must end
with valid chains, one record per (author, seq), tree heads consistent with every earlier one,
and no acknowledged record lost.
"""

from __future__ import annotations

import base64
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest

from ledger import merkle
from ledger.chain import Author
from ledger.encoding import b64url_decode, b64url_encode
from ledger.parallel import Verifier
from ledger.store.audit import audit
from ledger.store.db import open_engine
from tests.api.conftest import Node
from tests.conftest import empty_pg
from tests.store.support import member, set_update

pytestmark = pytest.mark.postgres
CLIENTS = 4
MEMBERS_PER_CLIENT = 6
RECORDS_PER_MEMBER = 4
RACES = 12


@pytest.fixture(scope="module")
def cluster(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    empty_pg(pg_database)
    node = Node(tmp_path_factory.mktemp("cluster") / "home", pg_database, workers=2)
    yield node
    node.stop()


def _post(client: httpx.Client, raw: bytes, blobs: dict[str, bytes]) -> httpx.Response:
    return client.post("/v1/records", json={
        "record": raw.decode(), "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})


def write_members(url: str) -> list[tuple[str, dict[str, object]]]:
    """One client process: several members, each appending its chain record by record."""
    acknowledged = []
    with httpx.Client(base_url=url, timeout=60) as client:
        members = [member() for _ in range(MEMBERS_PER_CLIENT)]
        for i in range(RECORDS_PER_MEMBER):
            for m in members:
                raw, blobs = set_update(m, "today", f"value {i}")
                r = _post(client, raw, blobs)
                if r.status_code != 201:
                    raise AssertionError(r.text)
                acknowledged.append((raw.decode(), r.json()))
    return acknowledged


def race(url: str, raw: bytes, blobs: dict[str, bytes]) -> tuple[int, str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        r = _post(client, raw, blobs)
        return r.status_code, r.json().get("type", "")


def test_concurrent_members_and_racing_seqs(cluster: Node, pg_database: str) -> None:
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(CLIENTS, mp_context=ctx) as pool:
        writers = [pool.submit(write_members, cluster.url) for _ in range(CLIENTS)]
        racers = []
        for _ in range(RACES):
            a = member()
            b = Author(a.signing_key)
            racers.append([pool.submit(race, cluster.url, *set_update(a, "today", "mine")),
                           pool.submit(race, cluster.url, *set_update(b, "today", "other"))])
        acknowledged = [ack for w in writers for ack in w.result()]
        outcomes = [sorted(f.result() for f in pair) for pair in racers]

    for pair in outcomes:  # exactly one of each rival pair is accepted
        assert [status for status, _ in pair] == [201, 409], pair
        assert pair[1][1] == "/v1/problems/equivocation"

    with httpx.Client(base_url=cluster.url, timeout=60) as client:
        for text, out in acknowledged:  # nothing acknowledged is lost
            got = client.get(f"/v1/records/{out['id']}").json()
            assert got["record"] == text and got["index"] == out["index"]
        final = client.get("/v1/log/head").json()
        heads = {out["tree_head"]["size"]: out["tree_head"] for _, out in acknowledged}
        for size, head in sorted(heads.items()):  # every head a client saw is a prefix
            proof = client.get("/v1/log/proofs/consistency",
                               params={"old_size": size, "new_size": final["size"]}).json()
            merkle.verify_consistency(size, final["size"],
                                      [b64url_decode(h) for h in proof["hashes"]],
                                      base64.b64decode(head["root"]),
                                      base64.b64decode(final["root"]))

    expected = CLIENTS * MEMBERS_PER_CLIENT * RECORDS_PER_MEMBER + RACES
    assert final["size"] == expected
    engine = open_engine(pg_database, create=False)
    try:
        report = audit(engine, verifier=Verifier(0))
    finally:
        engine.dispose()
    assert report.ok, report.problems
    assert report.records == expected and len(report.problems) == 0


def test_workers_share_one_log(cluster: Node) -> None:
    with httpx.Client(base_url=cluster.url, timeout=30) as client:
        origins = {client.get("/v1/health").json()["origin"] for _ in range(20)}
    assert len(origins) == 1
