"""Group commit of single appends (passport_api.appender).

In process: a group is one transaction and one signed head that includes every record, and a
refused record in a group fails only its own request.  Over HTTP, on both databases and with
two workers: N concurrent single appends all land, each answered with a head that includes it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ledger import keys, merkle
from ledger.encoding import b64url_encode
from ledger.errors import LedgerError
from ledger.store.ledger import Ledger
from passport_api.appender import Appended, _Pending, append_group
from passport_api.client import NodeClient
from tests.api.conftest import Node
from tests.conftest import fresh_db
from tests.store.support import member, set_update

CONCURRENT = 24


def test_a_group_is_one_head_that_includes_every_record(db_url: str) -> None:
    ledger = Ledger.open(db_url, log_key=keys.generate(),
                         verify_workers=0)
    try:
        first = [set_update(member()) for _ in range(2)]
        ledger.append_batch([raw for raw, _ in first],
                            {k: v for _, b in first for k, v in b.items()})
        heads_before = ledger.size()
        group = [_Pending(raw, blobs) for raw, blobs in (set_update(member()) for _ in range(5))]
        group.append(_Pending(first[0][0], {}))  # a record the log holds: a duplicate
        outcomes = append_group(ledger, group)
        assert all(isinstance(o, Appended) for o in outcomes)
        done = [o for o in outcomes if isinstance(o, Appended)]
        assert len({o.tree_head.note for o in done}) == 1  # one signed head for the group
        head = done[0].tree_head.head
        assert head.size == heads_before + 5
        assert [o.duplicate for o in done] == [False] * 5 + [True]
        assert done[-1].index == 0
        for p, o in zip(group, done, strict=True):
            merkle.verify_inclusion(merkle.leaf_hash(p.raw), o.index, head.size,
                                    ledger.inclusion_proof(o.index, head.size), head.root)
    finally:
        ledger.close()


def test_a_refused_record_fails_only_its_own_request(db_url: str) -> None:
    ledger = Ledger.open(db_url, log_key=keys.generate(),
                         verify_workers=0)
    try:
        good = [set_update(member()) for _ in range(3)]
        bad_raw, _ = set_update(member())  # its blob is not sent: refused
        group = [_Pending(*good[0]), _Pending(bad_raw, {}), _Pending(*good[1]),
                 _Pending(*good[2])]
        outcomes = append_group(ledger, group)
        assert isinstance(outcomes[1], LedgerError)
        landed = [o for i, o in enumerate(outcomes) if i != 1]
        assert all(isinstance(o, Appended) and not o.duplicate for o in landed)
        assert ledger.size() == 3
    finally:
        ledger.close()


@pytest.fixture(scope="module", params=[
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("group")
    node = Node(tmp / "home", fresh_db(request.param, request, tmp), workers=2)
    yield node
    node.stop()


def test_concurrent_single_appends_all_land_in_the_heads_they_are_given(
        two_workers: Node) -> None:
    writes = [set_update(member()) for _ in range(CONCURRENT)]

    def post(raw_blobs: tuple[bytes, dict[str, bytes]]) -> httpx.Response:
        raw, blobs = raw_blobs
        return httpx.post(two_workers.url + "/v1/records", timeout=60, json={
            "record": raw.decode(), "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(post, writes))
    assert [a.status_code for a in answers] == [201] * CONCURRENT, answers[0].text
    indexes = [a.json()["index"] for a in answers]
    assert sorted(indexes) == list(range(CONCURRENT))  # every one landed, once
    client = NodeClient(two_workers.url)
    for (raw, _), a in zip(writes, answers, strict=True):
        index, head = a.json()["index"], a.json()["tree_head"]
        assert index < head["size"]
        proof = client.inclusion_proof(index, head["size"]).decoded()
        merkle.verify_inclusion(merkle.leaf_hash(raw), index, head["size"], proof,
                                base64.b64decode(head["root"]))
