"""Ledger benchmark: ``python -m bench.ledger [--sizes 100000,1000000] [--batch 2000] ...``.

For each size it builds a ledger of realistic signed records on a fresh SQLite file and prints,
beside the raw primitives measured in the same run (Ed25519 verify on one and on ``--workers``
cores, plain SQLite inserts), the append rate through ``Ledger.append_batch``, the full-audit
rate and the inclusion and consistency proof times.  Speed targets are ratios to the raw
primitives, since this machine is shared and noisy; nothing here is asserted by the tests.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing

from bench import workload
from bench.proofs import Proof, proofs
from bench.workload import Entry
from ledger.parallel import Verifier
from ledger.store.audit import audit
from ledger.store.db import open_engine
from ledger.store.ledger import Ledger, PreparedBatch

APPEND_TARGET = 0.75  # of the raw Ed25519 verify rate on all workers
AUDIT_TARGET = 0.85
PROOF_TARGET_MS = 1.0
RAW_VERIFY_MESSAGES = 24_000
RAW_SQLITE_ROWS = 100_000
RAW_REPEATS = 3


@dataclass
class Raw:
    verify_1core: float  # signatures/s
    verify_ncores: float
    sqlite_insert: float  # rows/s
    verify_cpu_us: float = 0.0  # CPU per check in this process (process time, best of 3)


@dataclass
class Result:
    size: int
    mean_record_bytes: float
    blobs: int
    members: int
    raw: Raw
    raw_runs: list[Raw] = field(default_factory=list)
    append_per_s: float = 0.0
    audit_per_s: float = 0.0
    append_main_cpu_us: float = 0.0  # this process's CPU per record (the workers' is not in it)
    audit_main_cpu_us: float = 0.0
    append_cpu_us: float = 0.0  # CPU per record of this process and the verify workers
    audit_cpu_us: float = 0.0

    @property
    def verify_us(self) -> float:
        """CPU per signature check (process time in this process)."""
        return self.raw.verify_cpu_us
    inclusion: Proof | None = None
    consistency: Proof | None = None
    db_bytes: int = 0

    @property
    def append_ratio(self) -> float:
        return self.append_per_s / self.raw.verify_ncores

    @property
    def audit_ratio(self) -> float:
        return self.audit_per_s / self.raw.verify_ncores


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- raw primitives ----------------------------------------------------------------------------


def raw_verify(messages: list[tuple[bytes, bytes]], workers: int
               ) -> tuple[float, float, float]:
    """Best-of-three Ed25519 verify rates, in this process and over a pool of ``workers``,
    and the CPU µs per check in this process (what a loaded machine does not inflate)."""
    one = max(len(messages) / _timed(lambda: workload.verify_messages(messages))
              for _ in range(RAW_REPEATS))
    cpu_us = min(_cpu_timed(lambda: workload.verify_messages(messages))
                 for _ in range(RAW_REPEATS)) / len(messages) * 1e6
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                             initializer=workload.load_messages,
                             initargs=(messages,)) as pool:
        pids: set[int] = set()
        for _ in range(20):  # workers start lazily: ask until each has answered
            pids |= {f.result() for f in [pool.submit(workload.warm_up, 0.5)
                                          for _ in range(workers)]}
            if len(pids) >= workers:
                break
        if len(pids) < workers:
            _say(f"  warning: only {len(pids)} of {workers} verify workers started")
        step = 500

        def run() -> None:
            futures = [pool.submit(workload.verify_loaded, i, i + step)
                       for i in range(0, len(messages), step)]
            if sum(f.result() for f in futures) != len(messages):
                raise RuntimeError("raw verify lost messages")

        many = max(len(messages) / _timed(run) for _ in range(RAW_REPEATS))
    return one, many, cpu_us


def raw_sqlite(path: Path, raws: Sequence[bytes], batch: int) -> float:
    """Rows/s of plain ``executemany`` inserts of the records (WAL, synchronous=FULL)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE records (idx INTEGER PRIMARY KEY, raw BLOB NOT NULL)")

        def run() -> None:
            for start in range(0, len(raws), batch):
                db.execute("BEGIN")
                db.executemany("INSERT INTO records VALUES (?, ?)",
                               [(start + i, r) for i, r in enumerate(raws[start:start + batch])])
                db.execute("COMMIT")

        return len(raws) / _timed(run)
    finally:
        db.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def measure_raw(entries: Sequence[Entry], out_dir: Path, batch: int, workers: int) -> Raw:
    messages = workload.signed_messages(entries[:RAW_VERIFY_MESSAGES])
    one, many, cpu_us = raw_verify(messages, workers)
    rows = [e.raw for e in entries[:RAW_SQLITE_ROWS]]
    return Raw(one, many, raw_sqlite(out_dir / "raw-sqlite.sqlite", rows, batch), cpu_us)


def _cpu_timed(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- the ledger --------------------------------------------------------------------------------


def workers_cpu_s(verifier: Verifier) -> float:
    """User + system CPU seconds used so far by the verify workers (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in verifier.worker_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / ticks


def warm_verifier(workers: int, entries: Sequence[Entry]) -> Verifier:
    """A started pool, so worker start-up (forkserver, imports) is not in any figure."""
    verifier = Verifier(workers)
    sample = [e.raw for e in entries[:2048]]
    for _ in range(2):
        verifier.check(sample, None)
    return verifier


def build(url: str, entries: Sequence[Entry], batch: int, workers: int
          ) -> tuple[float, float, bytes, float]:
    """Append ``entries`` in batches; (records/s counting only ``append_batch``, this
    process's CPU µs per record, log key, CPU µs per record of this process and the
    workers)."""
    log_key = nacl.signing.SigningKey.generate()
    verifier = warm_verifier(workers, entries)
    ledger = Ledger(open_engine(url), log_key=log_key, verifier=verifier)
    spent = 0.0

    def prepare(start: int) -> PreparedBatch:
        chunk = entries[start:start + batch]
        blobs: dict[str, bytes] = {}
        for e in chunk:
            blobs.update(e.blobs)
        return ledger.prepare([e.raw for e in chunk], blobs)

    try:
        # The node's streaming path: batch k+1 is checked by the workers while k is written.
        starts = list(range(0, len(entries), batch))
        t0, cpu0, wcpu0 = time.perf_counter(), time.process_time(), workers_cpu_s(verifier)
        prepared = prepare(0)
        for k, start in enumerate(starts):
            upcoming = prepare(starts[k + 1]) if k + 1 < len(starts) else None
            result = ledger.append_prepared(prepared)
            size = min(start + batch, len(entries))
            if result.duplicates or result.tree_head.head.size != size:
                raise RuntimeError(f"unexpected append result at {start}: {result}")
            if k % 50 == 49:
                _say(f"  appended {size:,}/{len(entries):,} "
                     f"({size / (time.perf_counter() - t0):,.0f}/s)")
            if upcoming is not None:
                prepared = upcoming
        spent, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        wcpu = workers_cpu_s(verifier) - wcpu0
    finally:
        ledger.close()
    n = len(entries)
    return n / spent, cpu / n * 1e6, bytes(log_key.verify_key), (cpu + wcpu) / n * 1e6


def full_audit(url: str, entries: Sequence[Entry], public_key: bytes, workers: int
               ) -> tuple[float, float, float]:
    """(records/s, this process's CPU µs per record, the same with the workers')."""
    verifier = warm_verifier(workers, entries)
    ledger = Ledger.open(url, create=False, verify_workers=0)
    try:
        t0, cpu0, wcpu0 = time.perf_counter(), time.process_time(), workers_cpu_s(verifier)
        report = audit(ledger.engine, verifier=verifier, public_key=public_key)
        spent, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        wcpu = workers_cpu_s(verifier) - wcpu0
    finally:
        verifier.close()
        ledger.close()
    if not report.ok or report.records != len(entries):
        raise RuntimeError(f"the audit failed: {report.records} records, {report.problems[:3]}")
    n = len(entries)
    return n / spent, cpu / n * 1e6, (cpu + wcpu) / n * 1e6


# --- one size, the table, the command ----------------------------------------------------------


def run_size(n: int, out_dir: Path, batch: int, workers: int) -> Result:
    entries = workload.records(n, out_dir, max(os.cpu_count() or 1, workers))
    gc.collect()
    gc.freeze()  # the workload's million objects are not the ledger's: keep them out of GC passes
    members = len({e.raw[11:e.raw.index(b'"', 11)] for e in entries})  # {"author":"did:..."
    _say(f"size {n:,}: raw primitives")
    before = measure_raw(entries, out_dir, batch, workers)
    db = out_dir / f"ledger-{n}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    _say(f"size {n:,}: batch append ({batch} per batch, {workers} verify workers)")
    append_rate, append_cpu, public_key, append_all = build(url, entries, batch, workers)
    _say(f"size {n:,}: full audit")
    audit_rate, audit_cpu, audit_all = full_audit(url, entries, public_key, workers)
    _say(f"size {n:,}: proofs")
    inclusion, consistency = proofs(url, n)
    _say(f"size {n:,}: raw primitives again")
    after = measure_raw(entries, out_dir, batch, workers)
    # The faster of the two measurements: a quiet moment raises the bar, never lowers it.
    raw = Raw(max(before.verify_1core, after.verify_1core),
              max(before.verify_ncores, after.verify_ncores),
              max(before.sqlite_insert, after.sqlite_insert),
              min(before.verify_cpu_us, after.verify_cpu_us))
    return Result(size=n, mean_record_bytes=statistics.fmean(len(e.raw) for e in entries),
                  blobs=sum(1 for e in entries if e.blob), members=members, raw=raw,
                  raw_runs=[before, after], append_per_s=append_rate, audit_per_s=audit_rate,
                  append_main_cpu_us=append_cpu, audit_main_cpu_us=audit_cpu,
                  append_cpu_us=append_all, audit_cpu_us=audit_all,
                  inclusion=inclusion, consistency=consistency,
                  db_bytes=sum(p.stat().st_size for p in out_dir.glob(f"ledger-{n}.sqlite*")))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(r: Result, batch: int, workers: int) -> str:
    lines = [
        f"== {r.size:,} records (mean {r.mean_record_bytes:.0f} B, {r.members:,} members, "
        f"{r.blobs:,} sealed blobs); SQLite file {r.db_bytes / 1e6:,.0f} MB",
        f"  raw Ed25519 verify    1 core {r.raw.verify_1core:>9,.0f}/s   {workers} cores "
        f"{r.raw.verify_ncores:>9,.0f}/s",
        f"  raw SQLite insert     {r.raw.sqlite_insert:>9,.0f} rows/s (WAL, synchronous=FULL, "
        f"{batch} per transaction)",
        f"  batch append          {r.append_per_s:>9,.0f} records/s  = {r.append_ratio:4.0%} of "
        f"{workers}-core verify, {r.append_per_s / r.raw.sqlite_insert:4.0%} of raw insert  "
        f"[target >= {APPEND_TARGET:.0%}: {_verdict(r.append_ratio >= APPEND_TARGET)}]; "
        f"main process {r.append_main_cpu_us:.0f} µs CPU/record",
        f"  full audit            {r.audit_per_s:>9,.0f} records/s  = {r.audit_ratio:4.0%} of "
        f"{workers}-core verify  [target >= {AUDIT_TARGET:.0%}: "
        f"{_verdict(r.audit_ratio >= AUDIT_TARGET)}]; main process "
        f"{r.audit_main_cpu_us:.0f} µs CPU/record",
    ]
    lines.append(
        f"  CPU per record (this process + workers; load-independent): append "
        f"{r.append_cpu_us:.0f} µs, audit {r.audit_cpu_us:.0f} µs; a signature check "
        f"{r.verify_us:.0f} µs = {r.verify_us / r.append_cpu_us:.0%} and "
        f"{r.verify_us / r.audit_cpu_us:.0%} of it (the wall ratios' ceiling with every core busy)")
    for name, p in (("inclusion proof", r.inclusion), ("consistency proof", r.consistency)):
        assert p is not None
        lines.append(
            f"  {name:<20}  total median {p.total.median_ms:.3f} ms p99 {p.total.p99_ms:.3f} ms"
            f"  (fetch {p.fetch.median_ms:.3f}/{p.fetch.p99_ms:.3f}, verify "
            f"{p.verify.median_ms:.3f}/{p.verify.p99_ms:.3f}; {p.hashes:.1f} hashes)  "
            f"[target < {PROOF_TARGET_MS:g} ms: "
            f"{_verdict(p.total.median_ms < PROOF_TARGET_MS)}]")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
            "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated ledger sizes (default: 100000,1000000)")
    parser.add_argument("--batch", type=int, default=2000, help="records per append_batch")
    parser.add_argument("--workers", type=int, default=2, help="verify processes")
    parser.add_argument("--dir", type=Path, default=Path(__file__).with_name("out"),
                        help="where the record cache and databases go (default: bench/out)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    out_dir: Path = args.dir
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        (out_dir / ".gitignore").write_text("*\n")
    info = machine()
    print(f"Passport ledger benchmark, {info['date']}: {info['cpu']}, {info['cores']} cores, "
          f"Python {info['python']}, SQLite {info['sqlite']}, load average at start "
          f"{info['load_average'][0]:.2f}", flush=True)
    results = []
    for n in sizes:
        result = run_size(n, out_dir, args.batch, args.workers)
        results.append(result)
        print(table(result, args.batch, args.workers), flush=True)
    if args.json:
        doc = {"machine": info, "load_average_at_end": os.getloadavg(), "batch": args.batch,
               "workers": args.workers,
               "results": [{**asdict(r), "append_ratio": r.append_ratio,
                            "audit_ratio": r.audit_ratio, "verify_us": r.verify_us}
                           for r in results]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
