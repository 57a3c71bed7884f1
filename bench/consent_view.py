"""What checking a member's index columns against the signed bytes costs a scoped read.

``python -m bench.consent_view`` builds a small SQLite ledger in a temporary directory: one
member with 10 consent records (sets and grants) and 0, 100 or 1,000 other records (check-ins),
then times, in the same run and on the same database, the consent view a scoped read folds:

- reference: the query the node used before issue 17 (the member's rows whose type column is
  a consent type, trusted as they are), then ``PassportView.from_records``;
- checked: ``Ledger.records_of`` (every row of the chain listed with the last bytes of its
  record, seqs checked contiguous to the chain's head, consent records parsed and compared),
  then the same fold.

It prints the median of each and their ratio, per number of other records.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from ledger import consent, keys
from ledger.chain import Author
from ledger.store import schema as t
from ledger.store.chains_read import StoredRecord
from ledger.store.ledger import Ledger
from wallet.fields import set_field

SEALED = {"ct": "c2VhbGVk", "keys": ["a2V5" * 16]}


def reference(ledger: Ledger, author: str) -> list[StoredRecord]:
    """The pre-issue-17 consent query: the type column trusted, nothing compared."""
    c = t.records.c
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(c.idx, c.raw).where(
            c.author == author, c.type.in_(sorted(consent.CONSENT_TYPES))).order_by(c.seq))
        return [StoredRecord(int(i), bytes(r)) for i, r in rows]


def build(path: Path, others: int) -> tuple[Ledger, str]:
    ledger = Ledger.open(str(path), log_key=keys.generate(), verify_workers=0)
    member = Author(keys.generate())
    raws: list[bytes] = []
    blobs: dict[str, bytes] = {}
    for i in range(10):
        update = set_field(member, f"field_{i}", f"value {i}", [])
        raws.append(update.record.raw)
        blobs.update(update.blobs)
    raws += [member.next("checkin", {"nonce_hash": "sha256:" + "00" * 32, "sealed": SEALED}).raw
             for _ in range(others)]
    ledger.append_batch(raws, blobs)
    return ledger, member.did


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for others in (0, 100, 1000):
            ledger, did = build(Path(tmp) / f"l{others}.sqlite", others)

            def fold(fetch: Callable[[Ledger, str], list[StoredRecord]]) -> None:
                stored = fetch(ledger, did)  # noqa: B023 (called within this iteration)
                consent.PassportView.from_records([s.record for s in stored], member=did)  # noqa: B023

            ref = timed(lambda: fold(reference), args.repeat)
            checked = timed(lambda: fold(
                lambda led, who: led.records_of(who, consent.CONSENT_TYPES)), args.repeat)
            ledger.close()
            row = {"other_records": others, "reference_ms": round(ref * 1000, 3),
                   "checked_ms": round(checked * 1000, 3), "ratio": round(checked / ref, 2)}
            out.append(row)
            print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
