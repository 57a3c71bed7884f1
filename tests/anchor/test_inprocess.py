"""Anchoring on the in-process EVM (py-evm): deploy, anchor, prove, verify, restart, tamper."""

from __future__ import annotations

import copy
from pathlib import Path

import nacl.signing
import pytest

from contracts.anchoring import AnchorConfig, Anchorer
from contracts.chain import Chain
from contracts.errors import (
    AnchorBusyError,
    AnchorMismatchError,
    EvidenceProofError,
    NotAnchoredError,
    SenderMismatchError,
)
from contracts.evidence import build_evidence, check_proofs, verify_evidence
from ledger.encoding import b64url_decode, b64url_encode
from ledger.store.anchors import CONFIRMED, AnchorStore
from ledger.store.ledger import Ledger
from tests.anchor.conftest import add_records


def test_anchor_then_prove_and_verify_a_record(ledger: Ledger, inprocess_chain: Chain,
                                               tmp_path: Path) -> None:
    ids = add_records(ledger, 5)
    anchorer = Anchorer(ledger, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
    result = anchorer.anchor_now(wait_s=10)
    assert result.sent is not None and not result.pending
    assert [status for _, status in result.settled] == [CONFIRMED]
    size, root = inprocess_chain.latest(anchorer.contract, anchorer.sender, anchorer.log_id)
    assert (size, root) == (5, ledger.root(5))

    evidence = build_evidence(ledger, AnchorStore(ledger.engine), ids[2])
    verified = verify_evidence(evidence, None, chain=inprocess_chain)
    assert verified.chain_checked and verified.record_id == ids[2]
    assert verified.claim.anchored_size == 5 and verified.confirmations == 1
    assert verified.block_number == inprocess_chain.receipt(result.sent.tx_hash).block_number


def test_nothing_is_sent_when_the_chain_already_holds_the_head(
        ledger: Ledger, inprocess_chain: Chain, tmp_path: Path) -> None:
    add_records(ledger, 2)
    anchorer = Anchorer(ledger, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
    anchorer.anchor_now(wait_s=10)
    again = anchorer.anchor_now(wait_s=10)
    assert again.sent is None and "nothing to anchor" in again.note
    assert len(AnchorStore(ledger.engine).list()) == 1


def test_record_not_yet_anchored_has_no_evidence(ledger: Ledger) -> None:
    ids = add_records(ledger, 1)
    with pytest.raises(NotAnchoredError):
        build_evidence(ledger, AnchorStore(ledger.engine), ids[0])


def test_node_restart_between_anchors_keeps_contract_key_and_history(
        db_url: str, inprocess_chain: Chain, tmp_path: Path) -> None:
    log_key = nacl.signing.SigningKey.generate()
    first = Ledger.open(db_url, log_key=log_key, verify_workers=0)
    ids = add_records(first, 3)
    a1 = Anchorer(first, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
    a1.anchor_now(wait_s=10)
    contract, sender = a1.contract, a1.sender
    first.close()

    second = Ledger.open(db_url, log_key=log_key, verify_workers=0)  # the node restarted
    try:
        ids += add_records(second, 4)
        a2 = Anchorer(second, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
        result = a2.anchor_now(wait_s=10)
        assert (a2.contract, a2.sender) == (contract, sender)  # no second deployment
        assert result.sent is not None and result.sent.tree_size == 7
        rows = AnchorStore(second.engine).list()
        assert sorted(r.tree_size for r in rows) == [3, 7]
        assert all(r.status == CONFIRMED for r in rows)
        # the first anchor still proves the early records, the second the later ones
        early = verify_evidence(build_evidence(second, AnchorStore(second.engine), ids[0]),
                                None, chain=inprocess_chain)
        late = verify_evidence(build_evidence(second, AnchorStore(second.engine), ids[5]),
                               None, chain=inprocess_chain)
        assert (early.claim.anchored_size, late.claim.anchored_size) == (3, 7)
    finally:
        second.close()


@pytest.fixture
def anchored(ledger: Ledger, inprocess_chain: Chain, tmp_path: Path) -> dict[str, object]:
    ids = add_records(ledger, 4)
    Anchorer(ledger, AnchorConfig(), home=tmp_path, chain=inprocess_chain).anchor_now(wait_s=10)
    return build_evidence(ledger, AnchorStore(ledger.engine), ids[1])


def _flip(h: str) -> str:
    raw = bytearray(b64url_decode(h))
    raw[0] ^= 1
    return b64url_encode(bytes(raw))


def test_tampered_inclusion_proof_is_refused(anchored: dict[str, object],
                                             inprocess_chain: Chain) -> None:
    bad = copy.deepcopy(anchored)
    proof = bad["inclusion"]
    assert isinstance(proof, list) and proof
    proof[0] = _flip(proof[0])
    with pytest.raises(EvidenceProofError, match="inclusion"):
        verify_evidence(bad, None, chain=inprocess_chain)


def test_tampered_record_is_refused(anchored: dict[str, object]) -> None:
    bad = copy.deepcopy(anchored)
    rec = bad["record"]
    assert isinstance(rec, dict)
    rec["index"] = rec["index"] + 1
    with pytest.raises(EvidenceProofError):
        check_proofs(bad)


def test_forged_tree_head_is_refused(anchored: dict[str, object]) -> None:
    bad = copy.deepcopy(anchored)
    note = bad["tree_head"]
    assert isinstance(note, str)
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # claim a bigger tree under the same signature
    bad["tree_head"] = "\n".join(lines)
    with pytest.raises(EvidenceProofError, match="not signed by the log's key"):
        check_proofs(bad)


def test_root_that_does_not_match_the_chain_is_refused(
        db_url: str, inprocess_chain: Chain, tmp_path: Path) -> None:
    """A node that shows a forked log (same key, other records) is caught by the chain."""
    log_key = nacl.signing.SigningKey.generate()
    honest = Ledger.open(db_url, log_key=log_key, verify_workers=0)
    forked = Ledger.open(str(tmp_path / "fork.sqlite"), log_key=log_key, verify_workers=0)
    try:
        add_records(honest, 3)
        fork_ids = add_records(forked, 3)
        anchorer = Anchorer(honest, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
        sent = anchorer.anchor_now(wait_s=10).sent
        assert sent is not None
        real = AnchorStore(honest.engine).get(sent.id)
        assert real is not None and real.block_hash is not None
        # the forked node claims the honest anchor's transaction for its own root
        fork_store = AnchorStore(forked.engine)
        row = fork_store.add_pending(
            chain_id=real.chain_id, contract=real.contract, sender=real.sender,
            log_id=real.log_id, tree_size=3, root=forked.root(3), nonce=real.nonce,
            tx_hash=real.tx_hash, raw_tx=real.raw_tx, now_ms=real.created_ms)
        fork_store.update(row.id, status=CONFIRMED, now_ms=real.updated_ms,
                          block_number=real.block_number, block_hash=real.block_hash)
        evidence = build_evidence(forked, fork_store, fork_ids[0])
        check_proofs(evidence)  # every signature and proof holds ...
        with pytest.raises(AnchorMismatchError, match="the chain anchors size 3 root"):
            verify_evidence(evidence, None, chain=inprocess_chain)  # ... the chain does not
    finally:
        honest.close()
        forked.close()


def test_anchor_from_another_sender_is_refused(anchored: dict[str, object],
                                               inprocess_chain: Chain) -> None:
    with pytest.raises(SenderMismatchError):
        verify_evidence(anchored, None, chain=inprocess_chain,
                        expected_sender="0x" + "22" * 20)
    bad = copy.deepcopy(anchored)
    bad["anchor"]["sender"] = "0x" + "33" * 20  # type: ignore[index]
    with pytest.raises(SenderMismatchError):
        verify_evidence(bad, None, chain=inprocess_chain)


def test_evidence_for_another_chain_is_refused(anchored: dict[str, object],
                                              inprocess_chain: Chain) -> None:
    bad = copy.deepcopy(anchored)
    bad["anchor"]["chain_id"] = 1  # type: ignore[index]
    with pytest.raises(AnchorMismatchError, match="chain"):
        verify_evidence(bad, None, chain=inprocess_chain)


def test_two_anchorers_share_one_contract_and_never_anchor_at_once(
        ledger: Ledger, inprocess_chain: Chain, tmp_path: Path) -> None:
    add_records(ledger, 2)
    a = Anchorer(ledger, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
    b = Anchorer(ledger, AnchorConfig(), home=tmp_path, chain=inprocess_chain)
    a.setup()
    b.setup()
    assert (a.contract, a.sender) == (b.contract, b.sender)
    store = AnchorStore(ledger.engine)
    assert store.take_lease("anchoring", a.holder, now_ms=a.clock(), ttl_ms=60_000)
    with pytest.raises(AnchorBusyError):
        b.round()
    store.release_lease("anchoring", a.holder)
    assert a.round().sent is not None
    assert b.round().sent is None  # a's anchor is pending or confirmed: b sends nothing
    assert len(store.list()) == 1
