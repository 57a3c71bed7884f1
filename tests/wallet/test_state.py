"""The wallet's trust in a node: a pinned log key, heads that only grow consistently."""

from __future__ import annotations

import base64

import pytest

from ledger import keys, merkle
from ledger.checkpoint import TreeHead, sign_tree_head
from ledger.encoding import b64url_encode
from wallet.errors import UntrustedNodeError
from wallet.state import WalletState, accept_head

ORIGIN = "passport.test/log"


def tree(n: int) -> merkle.MemoryTree:
    t = merkle.MemoryTree()
    for i in range(n):
        t.append(b"record %d" % i)
    return t


def note(key: object, size: int, root: bytes, origin: str = ORIGIN) -> str:
    return sign_tree_head(TreeHead(origin, size, root, 1_000), key).decode()  # type: ignore[arg-type]


def proof(t: merkle.MemoryTree, old: int, new: int) -> list[str]:
    return [b64url_encode(h) for h in t.consistency_proof(old, new)]


def test_grows_consistently_and_pins_the_key() -> None:
    key, t, state = keys.generate(), tree(20), WalletState()
    accept_head(state, note(key, 5, t.root(5)), bytes(key.verify_key), None)
    assert state.log_key == bytes(key.verify_key).hex() and state.size == 5
    accept_head(state, note(key, 20, t.root(20)), bytes(key.verify_key), proof(t, 5, 20))
    assert state.size == 20 and base64.b64decode(state.root) == t.root(20)


def test_a_fork_a_rollback_and_another_key_are_refused() -> None:
    key, t, state = keys.generate(), tree(20), WalletState()
    accept_head(state, note(key, 10, t.root(10)), bytes(key.verify_key), None)
    forked = tree(9)  # the first 9 records as seen, then a rewritten tenth
    for data in (b"rewritten", b"record 10", b"record 11"):
        forked.append(data)
    with pytest.raises(UntrustedNodeError, match="not consistent"):
        accept_head(state, note(key, 12, forked.root(12)), bytes(key.verify_key),
                    proof(forked, 10, 12))
    with pytest.raises(UntrustedNodeError, match="shrank"):
        accept_head(state, note(key, 9, t.root(9)), bytes(key.verify_key), None)
    with pytest.raises(UntrustedNodeError, match="same size"):
        accept_head(state, note(key, 10, t.root(11)), bytes(key.verify_key), None)
    other = keys.generate()
    with pytest.raises(UntrustedNodeError, match="different log key"):
        accept_head(state, note(other, 20, t.root(20)), bytes(other.verify_key), proof(t, 10, 20))
    with pytest.raises(UntrustedNodeError, match="does not verify"):
        accept_head(state, note(other, 20, t.root(20)), bytes(key.verify_key), proof(t, 10, 20))
    assert state.size == 10  # nothing adopted from any refused head
