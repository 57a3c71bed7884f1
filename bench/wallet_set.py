"""``passport set`` on a synced wallet: its cost at chain length 10 and 1,000.

    python -m bench.wallet_set --sets 30          (make bench-set; about a minute)

One real node (SQLite, one worker).  Two members' chains are written in bulk (a genesis
``key.rotate`` and then field records), each member's wallet syncs once, and then each wallet
sets a field ``--sets`` times, interleaved, timed one by one.  Beside them, in the same run,
the reference: the irreducible work of a set, the same field record sealed and signed by
``wallet.fields.set_field`` and appended with one POST by a bare client (no wallet).  The
figures are medians; the claim is the ratio of length 1,000 to length 10 (same cost within
noise), and each against the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.node import NodeProcess
from ledger import keys
from ledger.chain import Author
from passport_api.client import NodeClient
from wallet import keystore
from wallet.fields import set_field
from wallet.wallet import Wallet

PASS = "bench wallet set"
LENGTHS = (10, 1000)
CHUNK = 1000


def member(home: Path, url: str, length: int) -> Wallet:
    """A wallet whose chain on the node has ``length`` records, synced."""
    store = keystore.create("member")
    keystore.save(store, home, PASS, profile="interactive")
    author = Author(store.signing_keys[0], did=store.did)
    raws = [author.next("key.rotate", {"next": store.did, "next_commitment": keys.key_commitment(
        bytes(store.signing_keys[1].verify_key))}).raw]
    blobs: list[dict[str, bytes]] = [{}]
    for i in range(length - 1):
        update = set_field(author, "today", f"day {i}", [])
        raws.append(update.record.raw)
        blobs.append(update.blobs)
    client = NodeClient(url)
    for start in range(0, len(raws), CHUNK):
        client.append_batch(raws[start:start + CHUNK],
                            {n: b for named in blobs[start:start + CHUNK]
                             for n, b in named.items()})
    wallet = Wallet(home, keystore.load(home, PASS), PASS, url)
    wallet.sync()
    if wallet.author.seq != length:
        raise RuntimeError(f"the wallet sees {wallet.author.seq} records, not {length}")
    return wallet


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run(sets: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-set-") as tmp:
        root = Path(tmp)
        node = NodeProcess(str(root / "node.sqlite"), root / "node", workers=1)
        try:
            wallets = {n: member(root / f"m{n}", node.url, n) for n in LENGTHS}
            bare, client = Author(keys.generate()), NodeClient(node.url)
            client.append(bare.next("passport.clear", {"field": "today"}).raw)
            times: dict[str, list[float]] = {"reference": [], **{str(n): [] for n in LENGTHS}}
            for i in range(sets):
                t0 = time.perf_counter()
                update = set_field(bare, "today", f"reference {i}", [])
                client.append(update.record.raw, update.blobs)
                times["reference"].append(time.perf_counter() - t0)
                for n, wallet in wallets.items():
                    t0 = time.perf_counter()
                    wallet.set("today", f"set {i}")
                    times[str(n)].append(time.perf_counter() - t0)
            for wallet in wallets.values():
                wallet.close()
        finally:
            node.stop()
    ref = median_ms(times["reference"])
    out: dict[str, Any] = {"sets": sets, "reference_ms": ref}
    for n in LENGTHS:
        out[f"set_ms_at_{n}"] = median_ms(times[str(n)])
        out[f"ratio_to_reference_at_{n}"] = median_ms(times[str(n)]) / ref
    out["ratio_1000_to_10"] = out["set_ms_at_1000"] / out["set_ms_at_10"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.sets)
    print(f"reference (set_field + one POST)   {result['reference_ms']:7.2f} ms")
    for n in LENGTHS:
        print(f"wallet.set at chain length {n:>5}  {result[f'set_ms_at_{n}']:7.2f} ms  "
              f"= {result[f'ratio_to_reference_at_{n}']:.2f} x reference")
    print(f"length 1,000 / length 10           {result['ratio_1000_to_10']:7.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
