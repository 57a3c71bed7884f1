"""Anchoring against a real JSON-RPC node: anvil from npm, started on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from contracts.anchoring import AnchorConfig, Anchorer
from contracts.chain import Chain
from contracts.errors import ChainUnavailableError, NotConfirmedError, ReorgedError
from contracts.evidence import build_evidence, verify_evidence
from ledger.store.anchors import CONFIRMED, ORPHANED, PENDING, REPLACED, REVERTED, AnchorStore
from ledger.store.ledger import Ledger
from tests.anchor.conftest import Anvil, add_records
from tests.api.conftest import free_port


def test_anchor_prove_and_verify_over_rpc(ledger: Ledger, anvil: Anvil, anvil_chain: Chain,
                                          tmp_path: Path) -> None:
    ids = add_records(ledger, 6)
    anchorer = Anchorer(ledger, AnchorConfig(rpc=anvil.url), home=tmp_path)
    result = anchorer.anchor_now(wait_s=20)
    assert result.sent is not None and not result.pending
    assert anvil_chain.latest(anchorer.contract, anchorer.sender, anchorer.log_id) == (
        6, ledger.root(6))
    evidence = build_evidence(ledger, AnchorStore(ledger.engine), ids[4])
    verified = verify_evidence(evidence, anvil.url, expected_sender=anchorer.sender)
    assert verified.chain_checked and verified.claim.chain_id == 31337
    assert verified.claim.anchored_size == 6
    with pytest.raises(NotConfirmedError, match="1 confirmation"):
        verify_evidence(evidence, anvil.url, min_confirmations=4)
    anvil_chain.mine(3)
    assert verify_evidence(evidence, anvil.url, min_confirmations=4).confirmations == 4


def test_reorg_below_confirmation_depth_resends_the_same_transaction(
        ledger: Ledger, anvil: Anvil, anvil_chain: Chain, tmp_path: Path) -> None:
    add_records(ledger, 3)
    anchorer = Anchorer(ledger, AnchorConfig(rpc=anvil.url, confirmations=3), home=tmp_path)
    anchorer.setup()
    snapshot = anvil_chain.call("evm_snapshot", [])
    sent = anchorer.round().sent
    assert sent is not None
    mined = anvil_chain.receipt(sent.tx_hash)
    assert mined is not None and mined.status == 1
    assert anchorer.round().pending  # 1 of 3 confirmations: not final yet

    assert anvil_chain.call("evm_revert", [snapshot]) is True  # the block is gone
    assert anvil_chain.receipt(sent.tx_hash) is None
    anchorer.round()  # sees the anchor vanished, broadcasts the same signed bytes
    anvil_chain.mine(3)
    final = anchorer.round()
    rows = AnchorStore(ledger.engine).list()
    assert [(r.tx_hash, r.status) for r in rows] == [(sent.tx_hash, CONFIRMED)]
    assert final.sent is None  # nothing sent twice
    assert anvil_chain.latest(anchorer.contract, anchorer.sender, anchorer.log_id)[0] == 3


def test_evidence_whose_block_was_reorganised_away_is_refused(
        ledger: Ledger, anvil: Anvil, anvil_chain: Chain, tmp_path: Path) -> None:
    ids = add_records(ledger, 2)
    anchorer = Anchorer(ledger, AnchorConfig(rpc=anvil.url), home=tmp_path)
    anchorer.setup()
    snapshot = anvil_chain.call("evm_snapshot", [])
    anchorer.anchor_now(wait_s=20)
    evidence = build_evidence(ledger, AnchorStore(ledger.engine), ids[0])
    verify_evidence(evidence, anvil.url)
    anvil_chain.call("evm_revert", [snapshot])
    anvil_chain.mine(2)  # other blocks now stand where the anchor's block was
    with pytest.raises(ReorgedError):
        verify_evidence(evidence, anvil.url)
    # the node notices too: the anchor goes back to pending and is sent again, once
    anchorer.round()
    again = anchorer.anchor_now(wait_s=20)
    rows = AnchorStore(ledger.engine).list()
    assert len(rows) == 1 and rows[0].status == CONFIRMED and not again.pending
    verify_evidence(build_evidence(ledger, AnchorStore(ledger.engine), ids[0]), anvil.url)


def test_reverted_anchor_is_recorded_and_the_next_round_goes_on(
        ledger: Ledger, anvil: Anvil, anvil_chain: Chain, tmp_path: Path) -> None:
    add_records(ledger, 4)
    anchorer = Anchorer(ledger, AnchorConfig(rpc=anvil.url), home=tmp_path)
    anchorer.anchor_now(wait_s=20)
    # a stale size (as a second node with the same key would send) is refused by the contract
    key = (tmp_path / "anchor-eth.key").read_text().strip()
    nonce = anvil_chain.nonce(anchorer.sender, pending=True)
    stale = anvil_chain.sign_anchor(key, anchorer.contract, log_id=anchorer.log_id, size=2,
                                    root=ledger.root(2), nonce=nonce)
    store = AnchorStore(ledger.engine)
    store.add_pending(chain_id=anchorer.chain_id, contract=anchorer.contract,
                      sender=anchorer.sender, log_id=anchorer.log_id, tree_size=2,
                      root=ledger.root(2), nonce=nonce, tx_hash=stale.tx_hash, raw_tx=stale.raw,
                      now_ms=0)
    anvil_chain.send_raw(stale.raw)
    result = anchorer.round()
    assert [status for _, status in result.settled] == [REVERTED]
    add_records(ledger, 1)
    assert anchorer.anchor_now(wait_s=20).sent is not None
    assert sorted((r.tree_size, r.status) for r in store.list()) == [
        (2, REVERTED), (4, CONFIRMED), (5, CONFIRMED)]


def test_replaced_anchor_is_recorded_and_anchored_anew(
        ledger: Ledger, anvil: Anvil, anvil_chain: Chain, tmp_path: Path) -> None:
    add_records(ledger, 2)
    anchorer = Anchorer(ledger, AnchorConfig(rpc=anvil.url), home=tmp_path)
    anchorer.setup()
    key = (tmp_path / "anchor-eth.key").read_text().strip()
    nonce = anvil_chain.nonce(anchorer.sender, pending=True)
    unsent = anvil_chain.sign_anchor(key, anchorer.contract, log_id=anchorer.log_id, size=2,
                                     root=ledger.root(2), nonce=nonce)
    store = AnchorStore(ledger.engine)
    store.add_pending(chain_id=anchorer.chain_id, contract=anchorer.contract,
                      sender=anchorer.sender, log_id=anchorer.log_id, tree_size=2,
                      root=ledger.root(2), nonce=nonce, tx_hash=unsent.tx_hash,
                      raw_tx=unsent.raw, now_ms=0)
    # the operator spends the same nonce on something else before the anchor goes out
    other = Account.sign_transaction(
        {"to": anchorer.sender, "value": 1, "nonce": nonce, "gas": 21000,
         "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": 31337, "type": 2},
        key)
    anvil_chain.send_raw(bytes(other.raw_transaction))
    result = anchorer.anchor_now(wait_s=20)
    assert [status for _, status in result.settled][:1] == [REPLACED]
    assert result.sent is not None and result.sent.tree_size == 2
    assert sorted(r.status for r in store.list()) == [CONFIRMED, REPLACED]


def test_rpc_down_is_a_clear_error_and_nothing_is_recorded(ledger: Ledger,
                                                           tmp_path: Path) -> None:
    add_records(ledger, 1)
    dead = f"http://127.0.0.1:{free_port()}"
    anchorer = Anchorer(ledger, AnchorConfig(rpc=dead), home=tmp_path)
    with pytest.raises(ChainUnavailableError, match=r"127\.0\.0\.1"):
        anchorer.anchor_now()
    assert AnchorStore(ledger.engine).list() == []


@pytest.fixture
def own_anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path / "anvil.log")
    yield node
    node.stop()


def test_chain_and_node_restart_orphan_old_anchors_and_anchor_again(
        ledger: Ledger, own_anvil: Anvil, tmp_path: Path) -> None:
    add_records(ledger, 3)
    first = Anchorer(ledger, AnchorConfig(rpc=own_anvil.url), home=tmp_path)
    first.anchor_now(wait_s=20)
    own_anvil.stop()
    add_records(ledger, 1)
    with pytest.raises(ChainUnavailableError):
        first.round()  # the RPC is down: a clear error, the pending state untouched
    own_anvil.start()  # a fresh chain: the contract and the anchor are gone
    second = Anchorer(ledger, AnchorConfig(rpc=own_anvil.url), home=tmp_path)  # node restart
    result = second.anchor_now(wait_s=20)
    assert result.sent is not None and result.sent.tree_size == 4
    store = AnchorStore(ledger.engine)
    assert sorted((r.tree_size, r.status) for r in store.list()) == [
        (3, ORPHANED), (4, CONFIRMED)]
    assert second.sender == first.sender  # the same key, kept in the node's home
    assert PENDING not in {r.status for r in store.list()}
