"""Anchoring cost: ``python -m bench.anchor [--sizes 1,1000,1000000] [--per-record 50]``.

Deploys the committed Anchor contract on the in-process EVM (or on ``--rpc URL``, a dev chain such
as anvil), then for each size appends that many synthetic leaves to a Merkle tree and anchors
the new root in one transaction, reading the gas used from the receipt.  Beside it, it sends
``--per-record`` single-record anchors (one transaction per record, the naive design) and
extrapolates their mean gas to each size.  Gas is exact and does not depend on the machine; the
target is a gas per anchor that stays constant whatever the number of records under it.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from dataclasses import asdict, dataclass

from contracts.chain import Chain, address_of, new_private_key
from ledger import merkle

DEFAULT_SIZES = (1, 1000, 1_000_000)


@dataclass(frozen=True)
class Row:
    records: int
    gas_per_anchor: int
    gas_per_record: float
    one_tx_per_record_gas: int
    ratio: float  # one transaction per record / one anchor


def anchor_gas(chain: Chain, key: str, contract: str, log_id: bytes, size: int,
               root: bytes) -> int:
    signed = chain.sign_anchor(key, contract, log_id=log_id, size=size, root=root,
                               nonce=chain.nonce(address_of(key), pending=True))
    chain.send_raw(signed.raw)
    receipt = chain.wait(signed.tx_hash)
    assert receipt.status == 1 and receipt.events[0].size == size
    return receipt.gas_used


def leaves(start: int, count: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(start, start + count)]


def run(sizes: list[int], per_record: int, rpc: str | None) -> tuple[list[Row], dict[str, int]]:
    chain = Chain.connect(rpc)
    key = "0x" + new_private_key().hex()
    chain.fund_dev(address_of(key))
    contract, deployed = chain.deploy(key)
    log_id = hashlib.sha256(b"bench log").digest()

    # The first anchor of a (sender, log) writes two fresh storage slots; later ones rewrite
    # them.  Pay that once up front so every size below is measured in the steady state.
    tree = merkle.MemoryTree()
    tree.append_hashes(leaves(0, 1))
    first = anchor_gas(chain, key, contract, log_id, tree.size, tree.root())

    per_record_log = hashlib.sha256(b"one transaction per record").digest()
    naive = [anchor_gas(chain, key, contract, per_record_log, i + 1,
                        merkle.leaf_hash(i.to_bytes(8, "big"))) for i in range(per_record + 1)]
    naive_mean = statistics.fmean(naive[1:])  # steady state, as above

    rows = []
    for n in sizes:
        tree.append_hashes(leaves(tree.size, n))
        gas = anchor_gas(chain, key, contract, log_id, tree.size, tree.root())
        naive_total = round(naive_mean * n)
        rows.append(Row(records=n, gas_per_anchor=gas, gas_per_record=gas / n,
                        one_tx_per_record_gas=naive_total, ratio=naive_total / gas))
    extra = {"deploy_gas": deployed.gas_used, "first_anchor_gas": first,
             "one_record_tx_gas": round(naive_mean), "chain_id": chain.chain_id()}
    return rows, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="records per anchor, comma-separated")
    parser.add_argument("--per-record", type=int, default=50,
                        help="single-record transactions sent to measure the naive cost")
    parser.add_argument("--rpc", default=None, help="a dev chain's JSON-RPC URL (anvil)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    rows, extra = run([int(s) for s in args.sizes.split(",")], args.per_record, args.rpc)
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], **extra}, indent=2))
        return
    print(f"chain {extra['chain_id']}: deploy {extra['deploy_gas']:,} gas; first anchor of a "
          f"log {extra['first_anchor_gas']:,} gas; one single-record anchor "
          f"{extra['one_record_tx_gas']:,} gas")
    print(f"{'records/anchor':>15} {'gas/anchor':>11} {'gas/record':>11} "
          f"{'1 tx/record':>15} {'ratio':>10}")
    for r in rows:
        print(f"{r.records:>15,} {r.gas_per_anchor:>11,} {r.gas_per_record:>11,.2f} "
              f"{r.one_tx_per_record_gas:>15,} {r.ratio:>10,.0f}x")


if __name__ == "__main__":
    main()
