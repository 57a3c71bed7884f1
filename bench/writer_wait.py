"""Writers taking turns on one SQLite file: ``python -m bench.writer_wait [--writers 4] ...``.

Each of ``--writers`` processes runs small write transactions (``BEGIN IMMEDIATE``, one
insert, a durable commit: the node's pragmas, ``synchronous=FULL``) one after another, as a
node's workers do with their group commits.  Two ways of waiting for the lock are measured
in the same run, alternately: SQLite's own busy handler (it sleeps 1, 2, 5 ... 100 ms between
tries) and ``ledger.store.db.begin_immediate`` (tries again at least every millisecond).
Printed per way: transactions/s over all writers and the wait for the lock (p50, p99, max).
Nothing here is asserted by the tests; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report import print_result
from ledger.store import db

WAYS = ("sqlite-busy-handler", "begin-immediate")


def _sqlite_waits(conn: Any, **_: object) -> None:
    """The store's way before ``begin_immediate``: SQLite's busy handler waits."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _writer(path: str, way: str, seconds: float, think_s: float, start: float,
            out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One writer through the store's ``writing``, in a process of its own, waiting the
    ``way`` given (the other way is put in place for this process only)."""
    if way == "sqlite-busy-handler":
        db.begin_immediate = _sqlite_waits
    engine = db.open_engine(f"sqlite:///{path}")
    insert = "INSERT INTO w (pid, at) VALUES (?, ?)"
    waits: list[float] = []
    time.sleep(max(0.0, start - time.time()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        with db.writing(engine) as conn:
            waits.append(time.perf_counter() - t0)
            conn.exec_driver_sql(insert, (os.getpid(), time.time()))
        time.sleep(think_s)  # a node worker gathers its next group outside the lock
    engine.dispose()
    out.put((len(waits), waits))


def run_way(path: Path, way: str, writers: int, seconds: float, think_s: float
            ) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    start = time.time() + 1.5  # every writer has opened the file before the clock starts
    procs = [ctx.Process(target=_writer, args=(str(path), way, seconds, think_s, start, out))
             for _ in range(writers)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    waits = sorted(w for _, ws in results for w in ws)
    total = sum(n for n, _ in results)
    return {"transactions_per_s": total / seconds,
            "wait_p50_ms": statistics.median(waits) * 1e3,
            "wait_p99_ms": waits[int(len(waits) * 0.99)] * 1e3,
            "wait_max_ms": waits[-1] * 1e3,
            "fewest_by_one_writer": min(n for n, _ in results)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.writer_wait", description=__doc__)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5.0, help="per way and round")
    p.add_argument("--think-ms", type=float, default=2.0,
                   help="each writer's pause between transactions (outside the lock)")
    p.add_argument("--rounds", type=int, default=3, help="each way this many times, alternated")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.sqlite"
        engine = db.open_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE w (id INTEGER PRIMARY KEY, pid INTEGER, at REAL)")
        engine.dispose()
        runs: dict[str, list[dict[str, float]]] = {w: [] for w in WAYS}
        for _ in range(args.rounds):
            for way in WAYS:
                runs[way].append(run_way(path, way, args.writers, args.seconds,
                                           args.think_ms / 1000))
    load = os.getloadavg()
    result = {"writers": args.writers, "seconds": args.seconds, "think_ms": args.think_ms,
              "load_average_end": load[0],
              "ways": {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                       for w, rs in runs.items()}}
    ours, theirs = (result["ways"][w] for w in ("begin-immediate", "sqlite-busy-handler"))
    result["throughput_ratio"] = ours["transactions_per_s"] / theirs["transactions_per_s"]
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
