"""The node client against a real node: typed answers, typed refusals, one pager."""

from __future__ import annotations

import pytest

from ledger import keys
from ledger.chain import Author
from passport_api.client import (
    BlobErasedError,
    NodeClient,
    NodeError,
    NodeNotFoundError,
    NodeRecordRefusedError,
    NodeUnreachableError,
)
from tests.api.conftest import Node
from wallet.fields import set_field


def test_the_pager_walks_every_page_in_seq_order(node: Node) -> None:
    member = Author(keys.generate())
    client = NodeClient(node.url)
    raws = [member.next("passport.clear", {"field": f"f{i}"}).raw for i in range(7)]
    appended = client.append_batch(raws)
    assert appended.tree_head.size >= 7 and len(appended.ids) == 7
    served = list(client.chain(member.did, page=3))  # three pages: 3 + 3 + 1
    assert [s.record.seq for s in served] == list(range(1, 8))
    assert [s.id for s in served] == list(appended.ids)
    assert [s.record.seq for s in client.chain(member.did, 2, up_to_seq=5, page=2)] == [3, 4, 5]
    state = client.follow_chain(member.did, None)
    assert state is not None and state.seq == 7 and state.head == appended.ids[-1]
    assert client.follow_chain(member.did, state) == state  # nothing new: the same state


def test_refusals_come_back_as_typed_errors(node: Node) -> None:
    member = Author(keys.generate())
    client = NodeClient(node.url, member.signing_key)
    with pytest.raises(NodeNotFoundError) as missing:
        client.record("sha256:" + "ab" * 32)
    assert missing.value.status == 404 and missing.value.code == "not-found"
    forged = Author(keys.generate(), did=member.did).next("passport.clear", {"field": "x"})
    with pytest.raises(NodeRecordRefusedError) as refused:
        client.append(forged.raw)
    assert refused.value.code == "bad-signature"
    update = set_field(member, "today", "soon erased", [])
    client.append(update.record.raw, update.blobs)
    assert client.blob(update.sealed.blob_name) == update.sealed.blob
    client.erase_blob(update.sealed.blob_name)
    with pytest.raises(BlobErasedError):
        client.blob(update.sealed.blob_name)


def test_a_node_that_does_not_answer_is_unreachable_not_a_crash() -> None:
    with pytest.raises(NodeUnreachableError) as down:
        NodeClient("http://127.0.0.1:9", timeout=2).health()
    assert isinstance(down.value, NodeError) and "127.0.0.1:9" in str(down.value)
    assert not NodeClient("http://127.0.0.1:9", timeout=2).is_ready()
