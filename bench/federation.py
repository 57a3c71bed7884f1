"""How fast a following node pulls and verifies a peer's log, beside the in-process audit rate.

    python -m bench.federation --records 20000

1. Node A's ledger is built in-process from the workload (``bench.workload``), with A's own
   log key, then served by ``passport node serve`` (SQLite); node B starts empty with
   ``--peer A`` (and A with ``--peer B``, so A replicates its values to B).
2. *pull rate*: records/s from B's start until B has pulled and verified all of A's log
   (``GET /v1/federation/peers``), counting B's start-up; and the same from the moment B
   answers (its start-up left out).
3. *audit rate*: ``ledger.store.audit.audit`` over A's database in this process, the same
   run: the same checks (every signature, chain and tree node) without HTTP, with its verify
   pool started beforehand (as in ``bench.ledger``).
4. *delay*: a member appends on A, B is polled every 10 ms for the record; p50/p99 over
   ``--trials`` appends, at the follow interval given (``--follow-every``).

Both nodes and this process share the machine's cores; the figures say so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import workload
from bench.ledger import warm_verifier
from bench.node import NodeProcess, _free_port
from ledger import keys
from ledger.chain import Author
from ledger.store.audit import audit
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from passport_api.client import NodeClient

BATCH = 2000


def build_a(db: str, home: Path, entries: Sequence[workload.Entry]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(db, log_key=load_or_create_log_key(home), verify_workers=0)
    try:
        for start in range(0, len(entries), BATCH):
            chunk = entries[start:start + BATCH]
            blobs: dict[str, bytes] = {}
            for e in chunk:
                blobs.update(e.blobs)
            ledger.append_batch([e.raw for e in chunk], blobs)
    finally:
        ledger.close()


def audit_rate(db: str, entries: Sequence[workload.Entry]) -> float:
    n = len(entries)
    verifier = warm_verifier(os.cpu_count() or 1, entries)
    ledger = Ledger.open(db, verify_workers=0)
    try:
        t0 = time.perf_counter()
        report = audit(ledger.engine, verifier=verifier)
        spent = time.perf_counter() - t0
    finally:
        verifier.close()
        ledger.close()
    if not report.ok or report.records != n:
        raise RuntimeError(f"A's ledger failed its audit: {report.problems[:3]}")
    return n / spent


def pulled(url: str) -> int:
    peers = NodeClient(url, timeout=10).peers()
    return int(peers[0]["pulled"]) if peers else 0


def delays(a: str, b: str, trials: int) -> list[float]:
    out = []
    for _ in range(trials):
        member = Author(keys.generate())
        record = member.next("passport.clear", {"field": "city"})
        t0 = time.perf_counter()
        NodeClient(a, timeout=10).append(record.raw)
        while not NodeClient(b, timeout=10).has_record(record.id):
            time.sleep(0.01)
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("B did not pull a record within 60 s")
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)


def run(n: int, follow_every: float, trials: int, out_dir: Path) -> dict[str, Any]:
    entries = workload.records(n, out_dir, workers=2)
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp:
        root = Path(tmp)
        db_a, db_b = str(root / "a.sqlite"), str(root / "b.sqlite")
        build_a(db_a, root / "a", entries)
        audited = audit_rate(db_a, entries)
        port_a, port_b = _free_port(), _free_port()
        url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        every = ("--follow-every", str(follow_every))
        a = NodeProcess(db_a, root / "a", 1, ("--peer", url_b, *every), port=port_a)
        try:
            t0 = time.perf_counter()
            b = NodeProcess(db_b, root / "b", 1, ("--peer", url_a, *every), port=port_b)
            ready = time.perf_counter()
            try:
                while pulled(url_b) < n:
                    time.sleep(0.1)
                    if time.perf_counter() - t0 > 3600:
                        raise RuntimeError("B did not catch up within an hour")
                spent, after_ready = time.perf_counter() - t0, time.perf_counter() - ready
                lag = delays(url_a, url_b, trials)
                cpu_b = b.cpu_seconds()
            finally:
                b.stop()
        finally:
            a.stop()
    return {"records": n, "pull_rate": n / spent, "pull_seconds": spent,
            "pull_rate_from_ready": n / after_ready, "audit_rate": audited,
            "ratio": (n / spent) / audited, "ratio_from_ready": (n / after_ready) / audited,
            "follower_cpu_s": cpu_b,
            "follow_every_s": follow_every, "delay_ms_p50": statistics.median(lag),
            "delay_ms_p99": lag[min(len(lag) - 1, int(0.99 * len(lag)))], "trials": trials}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--follow-every", type=float, default=0.2)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path("bench/out"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    result = run(args.records, args.follow_every, args.trials, args.dir)
    print(f"follower pulled and verified {result['records']:,} records in "
          f"{result['pull_seconds']:.1f} s: {result['pull_rate']:,.0f}/s "
          f"({result['ratio']:.0%} of the in-process audit, {result['audit_rate']:,.0f}/s; "
          f"from B ready {result['pull_rate_from_ready']:,.0f}/s = "
          f"{result['ratio_from_ready']:.0%}); "
          f"append on A to readable on B: p50 {result['delay_ms_p50']:.0f} ms, p99 "
          f"{result['delay_ms_p99']:.0f} ms (follow interval {args.follow_every} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
