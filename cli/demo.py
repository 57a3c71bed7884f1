"""The ledger demo behind ``make demo``: members write, the node proves, the operator audits.

Every step uses the real code paths (the SQLite store, the parallel verifier, the checkpoint
signer) and checks its own result, so a demo that prints "ok" has shown the property it names.
"""

from __future__ import annotations

from pathlib import Path

import nacl.signing
from rich.console import Console

from ledger import keys, merkle, seal
from ledger.chain import Author
from ledger.errors import LedgerError
from ledger.records import parse_record
from ledger.store.audit import audit
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from passport_api.erasure import sign_order
from wallet.fields import set_field

BATCH_MEMBERS = 200


def run(db: str, home: Path, out: Console) -> None:
    home.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(db, log_key=load_or_create_log_key(home))
    try:
        _story(ledger, out)
        report = audit(ledger.engine)
    finally:
        ledger.close()
    if not report.ok:
        raise LedgerError("the demo ledger failed its audit: " + str(report.problems[0]))
    out.print(f"[green]ok[/green] full audit: {report.records} records, {report.chains} "
              f"chains, {report.tree_heads} signed heads, {report.blobs} blobs re-checked")
    out.print(f"\nThe ledger is in {db}; audit it again with: passport ledger verify --db {db}")


def _story(ledger: Ledger, out: Console) -> None:
    log_did = keys.did_from_public_key(ledger.public_key)
    out.print(f"log [bold]{ledger.origin}[/bold], key {log_did}")
    first_head = ledger.latest_tree_head()

    alice = Author(keys.generate())
    matcher = keys.generate()
    update = set_field(alice, "today", "Designing a ride-sharing service", [keys.did_of(matcher)])
    sealed = update.sealed
    result = ledger.append(update.record.raw, update.blobs)
    out.print(f"[green]ok[/green] Alice appended a sealed 'today' field at index "
              f"{result.indexes[0]}; the node stores only ciphertext")
    value = seal.open_for(ledger.blob(sealed.blob_name), sealed.recipients, keys.did_of(matcher),
                          matcher, author=alice.did, field="today", seq=1,
                          expected_commitment=sealed.commitment)
    out.print(f"[green]ok[/green] the matcher, a recipient, opens it: {value!r}")

    members = [Author(keys.generate()) for _ in range(BATCH_MEMBERS)]
    batch_raws: list[bytes] = []
    batch_blobs: dict[str, bytes] = {}
    for i, member in enumerate(members):
        update = set_field(member, "expertise", f"topic {i}", [])
        batch_raws.append(update.record.raw)
        batch_blobs.update(update.blobs)
    batch = ledger.append_batch(batch_raws, batch_blobs)
    out.print(f"[green]ok[/green] {len(members)} members appended in one batch (signatures "
              f"checked in parallel, one commit); tree size {batch.tree_head.head.size}")

    resent = [parse_record(raw).body["blob"] for raw in batch_raws[:3]]
    again = ledger.append_batch(batch_raws[:3], {name: batch_blobs[name] for name in resent})
    out.print(f"[green]ok[/green] re-sending 3 of them is idempotent: {again.duplicates} "
              "duplicates, nothing added")

    new_key, after_key = keys.generate(), keys.generate()
    commit = alice.next("key.rotate", {"next": alice.did, "next_commitment":
                                       keys.key_commitment(bytes(new_key.verify_key))})
    rotate = alice.rotate(new_key, keys.key_commitment(bytes(after_key.verify_key)))
    ledger.append_batch([commit.raw, rotate.raw])
    update = set_field(alice, "leaving_at", "17:30", [])
    ledger.append(update.record.raw, update.blobs)
    out.print("[green]ok[/green] Alice pre-committed to a next key, rotated to it, and kept "
              "writing under the new key")

    _refusals(ledger, alice, out)
    _proofs(ledger, first_head.head.size, first_head.head.root, out)

    ledger.erase_blob(sealed.blob_name, alice.did,
                      sign_order(alice.signing_key, sealed.blob_name, alice.did))  # her DELETE's
    out.print("[green]ok[/green] Alice erased her first value: the blob is gone, the record "
              "and its chain still verify")


def _refusals(ledger: Ledger, alice: Author, out: Console) -> None:
    size = ledger.size()
    forged = Author(nacl.signing.SigningKey(bytes(32)), did=alice.did, seq=alice.seq,
                    head=alice.head)
    tampered = forged.next("passport.clear", {"field": "today"})
    for what, raw in (("a record signed by the wrong key", tampered.raw),
                      ("non-canonical JSON", b'{ "v": 1 }'),
                      ("an unknown record type", tampered.raw.replace(b"passport.clear",
                                                                      b"passport.burn"))):
        try:
            ledger.append(raw)
        except LedgerError as e:
            out.print(f"[green]ok[/green] refused {what}: {e}", highlight=False)
        else:
            raise LedgerError(f"the ledger accepted {what}")
    if ledger.size() != size:
        raise LedgerError("a refused record changed the log")


def _proofs(ledger: Ledger, old_size: int, old_root: bytes, out: Console) -> None:
    head = ledger.latest_tree_head().head
    stored = ledger.record_at(0)
    proof = ledger.inclusion_proof(0, head.size)
    merkle.verify_inclusion(merkle.leaf_hash(stored.raw), 0, head.size, proof, head.root)
    out.print(f"[green]ok[/green] inclusion proof of {parse_record(stored.raw).id[:19]}… in the "
              f"signed head of size {head.size}: {len(proof)} hashes, verified")
    mid = ledger.tree_head(old_size + 1).head
    proof = ledger.consistency_proof(mid.size, head.size)
    merkle.verify_consistency(mid.size, head.size, proof, mid.root, head.root)
    out.print(f"[green]ok[/green] consistency proof from size {mid.size} to {head.size}: "
              f"{len(proof)} hashes, verified (the log only grew)")
    if old_root != merkle.EMPTY_ROOT:
        raise LedgerError("the demo expects a fresh ledger; remove it first")
