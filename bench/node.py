"""Node benchmark over HTTP: ``python -m bench.node [--records 100000] [--read-size 1000000] ...``.

Starts real ``passport node serve`` processes on loopback and drives them from separate
load-generator processes (``bench.loadgen``): single appends from many clients, batch appends,
and signed scoped reads from 100 concurrent services, on SQLite and on PostgreSQL (two workers
each by default).  The reads run on a ledger of ``--read-size`` records built in process with
the ledger's batch append, the same records on both databases, kept for later runs.  Beside
every read figure, in the same run, the minimal signed route (``bench.reference_node``, same
workers and uvicorn options), and beside the HTTP batch rate the in-process append rate of the
ledger core on the same records.  Prints a table; ``--json`` writes every figure.  Nothing here
is asserted by the tests.  See docs/benchmarks.md.  The parts live in ``bench.nodebench``.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import ledger as ledger_bench
from bench import workload
from bench.loadgen import Job, Target
from bench.nodebench.figures import Report, Setup, drive, say
from bench.nodebench.ledgers import (
    forget_views,
    inprocess_rate,
    pg_database,
    pg_read_ledger,
    read_ledger,
    reset_pg,
    unlink_sqlite,
    vacuum_pg,
)
from bench.nodebench.process import NodeProcess, free_port, running_node
from bench.nodebench.report import READ_TARGET_CLIENTS, REFERENCE, report_json, table
from bench.nodebench.workloads import READ_MEMBERS, append_jobs, batch_jobs, read_jobs, read_targets
from bench.workload import Entry

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "passport_bench"
# What other benchmarks take from here (they start nodes the same way).
_free_port = free_port
__all__ = ["NodeProcess", "_free_port", "main", "running_node"]


# --- one database and worker count ---------------------------------------------------------------


def append_phases(node: NodeProcess, entries: Sequence[Entry], args: argparse.Namespace,
                  setup: Setup) -> None:
    singles, rest = entries[:args.singles], entries[args.singles:]
    setup.figures["single append"] = drive(
        node, "single append", append_jobs(node.url, singles, args.clients, args.generators),
        args.clients)
    setup.figures["batch append"] = drive(
        node, "batch append", batch_jobs(node.url, rest, args.batch_clients, args.batch, singles),
        args.batch_clients)


def prepare_read_ledger(db: str, args: argparse.Namespace) -> None:
    """Before the read phases on a kept read ledger: on PostgreSQL, VACUUM what earlier runs
    churned (``vacuum_pg``); with ``--fresh-views``, forget the consent views earlier runs'
    reads stored (each run's reads store the views they fold, and later runs take them)."""
    if "://" in db and not db.startswith("sqlite"):
        vacuum_pg(db)
    if args.fresh_views:
        say(f"  forgot {forget_views(db):,} stored consent views")


def read_phases(node: NodeProcess, targets: list[Target], args: argparse.Namespace,
                setup: Setup) -> None:
    if not targets:
        raise RuntimeError("no read targets: the ledger holds no live grants to the readers")
    warmup_s = min(2.0, args.read_seconds / 4)  # unmeasured: connections, caches, threads
    setup.figures["read, 1 client"] = drive(
        node, "read, 1 client",
        read_jobs(node.url, targets, 1, 1, warmup_s, args.read_seconds / 2), 1)
    setup.figures[f"read, {args.read_clients} clients"] = drive(
        node, f"read, {args.read_clients} clients",
        read_jobs(node.url, targets, args.read_clients, args.generators, warmup_s,
                  args.read_seconds), args.read_clients)
    setup.figures["verified read, 1 client"] = drive(
        node, "verified read, 1 client",
        [Job("verified", node.url, targets=targets, clients=1, warmup_s=warmup_s,
             seconds=args.read_seconds / 2)], 1)
    if args.rounds:
        interleaved(node, targets, args, setup)


def interleaved(node: NodeProcess, targets: list[Target], args: argparse.Namespace,
                setup: Setup) -> None:
    """``--rounds`` pairs of phases at ``--read-clients``, the node's and the reference's
    taking turns, both processes up (the idle one costs nothing): this machine's speed
    drifts by a third within minutes, so a ratio of phases run minutes apart says as much
    about the drift as about the node; the report takes the median of each pair's ratio."""
    warmup_s = min(2.0, args.read_seconds / 4)
    clients, seconds = args.read_clients, args.read_seconds / 2
    ref = NodeProcess("", args.dir / f"reference-{setup.database}", setup.workers,
                      reference=args.reference_mode)
    try:
        for k in range(1, args.rounds + 1):
            for who, name in ((node, f"read, {clients} clients, round {k}"),
                              (ref, f"{REFERENCE} {clients} clients, round {k}")):
                setup.figures[name] = drive(who, name, read_jobs(
                    who.url, targets, clients, args.generators, warmup_s, seconds), clients)
    finally:
        ref.stop()


def reference_phases(targets: list[Target], args: argparse.Namespace, setup: Setup) -> None:
    """The minimal signed route (bench.reference_node), same workers and uvicorn options,
    driven by the same generators with the same signed reads, right after the node."""
    warmup_s = min(2.0, args.read_seconds / 4)
    home = args.dir / f"reference-{setup.database}"
    ref = NodeProcess("", home, setup.workers, reference=args.reference_mode)
    try:
        for clients, seconds in ((1, args.read_seconds / 2), (args.clients, args.read_seconds),
                                 (args.read_clients, args.read_seconds)):
            name = f"{REFERENCE} {clients} client" + ("s" if clients > 1 else "")
            setup.figures[name] = drive(
                ref, name, read_jobs(ref.url, targets, clients, min(args.generators, clients),
                                     warmup_s, seconds), clients)
    finally:
        ref.stop()


def run_sqlite(entries: Sequence[Entry], reads: tuple[Path, Path], targets: list[Target],
               args: argparse.Namespace, report: Report) -> None:
    out_dir: Path = args.dir
    db = out_dir / "node-append.sqlite"
    unlink_sqlite(db)
    workers = args.sqlite_workers
    setup = Setup("sqlite", workers, len(entries), args.read_size)
    report.setups.append(setup)
    setup.inprocess_per_s = report.inprocess_sqlite
    say(f"SQLite, {workers} worker(s): appends over HTTP ({len(entries):,} records)")
    with running_node(str(db), out_dir / "node-append-home", workers) as node:
        append_phases(node, entries, args, setup)
    unlink_sqlite(db)
    say(f"SQLite, {workers} worker(s): reads on the {args.read_size:,}-record ledger "
        f"({len(targets):,} allowed reads)")
    with running_node(str(reads[0]), reads[1], workers) as node:
        prepare_read_ledger(str(reads[0]), args)
        read_phases(node, targets, args, setup)
    reference_phases(targets, args, setup)


def run_postgres(entries: Sequence[Entry], reads: tuple[str, Path], targets: list[Target],
                 args: argparse.Namespace, report: Report) -> None:
    setup = Setup("postgresql", args.pg_workers, len(entries), args.read_size)
    report.setups.append(setup)
    with pg_database(args.pg_admin, args.pg_database) as url:
        say(f"PostgreSQL: in-process append ({len(entries):,} records)")
        setup.inprocess_per_s = inprocess_rate(url, entries, args.batch, args.workers)
        reset_pg(args.pg_admin, args.pg_database)
        say(f"PostgreSQL, {args.pg_workers} workers: appends over HTTP")
        with running_node(url, args.dir / "node-pg-home", args.pg_workers) as node:
            append_phases(node, entries, args, setup)
    say(f"PostgreSQL, {args.pg_workers} workers: reads on the {args.read_size:,}-record ledger "
        f"({len(targets):,} allowed reads)")
    with running_node(reads[0], reads[1], args.pg_workers) as node:
        prepare_read_ledger(reads[0], args)
        read_phases(node, targets, args, setup)
    reference_phases(targets, args, setup)


def read_ledgers(args: argparse.Namespace, report: Report
                 ) -> tuple[tuple[Path, Path], tuple[str, Path] | None, list[Target]]:
    """The read ledger on SQLite and (unless --no-pg) on PostgreSQL, from the same records,
    and the reads their grants allow."""
    entries = workload.records(args.read_size, args.dir,
                               max(os.cpu_count() or 1, args.workers))
    db, home, report.read_ledger_build_per_s = read_ledger(entries, args.dir, args.batch,
                                                           args.workers)
    pg = None
    if not args.no_pg:
        url, pg_home, report.pg_read_ledger_build_per_s = pg_read_ledger(
            entries, args.dir, args.batch, args.workers, args.pg_admin, args.pg_database)
        pg = (url, pg_home)
    targets = read_targets(entries, READ_MEMBERS)
    del entries
    gc.collect()
    return (db, home), pg, targets


def reads_only(sqlite_reads: tuple[Path, Path], pg_reads: tuple[str, Path] | None,
               targets: list[Target], args: argparse.Namespace, report: Report) -> int:
    """``--reads-only``: each database's read phases and the reference's, nothing else."""
    reads: list[tuple[str, str, Path, int]] = [
        ("sqlite", str(sqlite_reads[0]), sqlite_reads[1], args.sqlite_workers)]
    if pg_reads is not None:
        reads.append(("postgresql", pg_reads[0], pg_reads[1], args.pg_workers))
    for database, db, home, workers in reads:
        setup = Setup(database, workers, 0, args.read_size)
        report.setups.append(setup)
        say(f"{database}, {workers} workers: reads on the {args.read_size:,}-record ledger "
            f"({len(targets):,} allowed reads)")
        with running_node(db, home, workers) as node:
            prepare_read_ledger(db, args)
            read_phases(node, targets, args, setup)
        reference_phases(targets, args, setup)
    return finish(report, args)


def finish(report: Report, args: argparse.Namespace) -> int:
    report.failures = sum(f.failures for s in report.setups for f in s.figures.values())
    print(table(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report_json(report), indent=2) + "\n")
    return 1 if report.failures else 0


# --- the command ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.node", description=__doc__)
    p.add_argument("--records", type=int, default=100_000,
                   help="records appended over HTTP per database (default 100,000)")
    p.add_argument("--singles", type=int, default=3_000,
                   help="of which appended one request each (default 3,000)")
    p.add_argument("--clients", type=int, default=32, help="clients for single appends")
    p.add_argument("--batch", type=int, default=2000, help="records per batch request")
    p.add_argument("--batch-clients", type=int, default=2,
                   help="clients sending batches at once, on member-disjoint streams")
    p.add_argument("--read-size", type=int, default=1_000_000,
                   help="records in the ledger the reads run on, on each database "
                        "(default 1,000,000; built once, kept in --dir and PostgreSQL)")
    p.add_argument("--read-clients", type=int, default=READ_TARGET_CLIENTS)
    p.add_argument("--read-seconds", type=float, default=20.0,
                   help="measured seconds of the 100-client read phase")
    p.add_argument("--generators", type=int, default=2,
                   help="load-generator processes for single appends and reads")
    p.add_argument("--workers", type=int, default=2,
                   help="verify processes of the in-process builds")
    p.add_argument("--pg-workers", type=int, default=2, help="node workers on PostgreSQL")
    p.add_argument("--sqlite-workers", type=int, default=2, help="node workers on SQLite")
    p.add_argument("--reference-mode", choices=("sync", "async"), default="sync",
                   help="the reference route checks the signature in the thread pool (sync, "
                        "like the node) or on the event loop (async)")
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument("--reads-only", action="store_true",
                   help="only the read phases and their reference (no appends, no in-process "
                        "append rates): for iterating on the read path")
    p.add_argument("--rounds", type=int, default=3,
                   help="pairs of interleaved node and reference phases at --read-clients, "
                        "--read-seconds / 2 each; the target's verdict is their median ratio "
                        "(default 3; 0: none)")
    p.add_argument("--fresh-views", action="store_true",
                   help="forget the consent views earlier runs' reads stored in the kept read "
                        "ledgers, so every member's first read folds their chain")
    p.add_argument("--pg-admin", default=PG_ADMIN,
                   help=f"PostgreSQL maintenance database URL (default {PG_ADMIN})")
    p.add_argument("--pg-database", default=PG_DATABASE,
                   help="database created for the appends and dropped after them; the read "
                        "ledger is kept in <name>_reads_<size>")
    p.add_argument("--dir", type=Path, default=Path(__file__).with_name("out"),
                   help="record cache, ledgers and node homes (default: bench/out)")
    p.add_argument("--json", type=Path, help="also write every figure as JSON here")
    args = p.parse_args(argv)
    if args.singles >= args.records:
        p.error("--singles must be less than --records")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Generator processes fork from a server that has imported them already: a phase starts
    # in milliseconds, not in the seconds that importing aiohttp and the client takes.
    multiprocessing.get_context("forkserver").set_forkserver_preload(["bench.loadgen"])
    out_dir: Path = args.dir
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        (out_dir / ".gitignore").write_text("*\n")
    info = ledger_bench.machine()
    report = Report(machine=info, args={k: str(v) if isinstance(v, Path) else v
                                        for k, v in vars(args).items()})
    print(f"Passport node benchmark over HTTP, {info['date']}: {info['cpu']}, {info['cores']} "
          f"cores, Python {info['python']}, load average at start "
          f"{info['load_average'][0]:.2f}", flush=True)
    sqlite_reads, pg_reads, targets = read_ledgers(args, report)
    if args.reads_only:
        return reads_only(sqlite_reads, pg_reads, targets, args, report)
    entries = workload.records(args.records, out_dir, max(os.cpu_count() or 1, args.workers))
    inproc_db = out_dir / "node-inprocess.sqlite"
    say(f"in-process append on SQLite ({len(entries):,} records)")
    unlink_sqlite(inproc_db)
    report.inprocess_sqlite_runs.append(
        inprocess_rate(f"sqlite:///{inproc_db}", entries, args.batch, args.workers))
    run_sqlite(entries, sqlite_reads, targets, args, report)
    if pg_reads is not None:
        run_postgres(entries, pg_reads, targets, args, report)
    say("in-process append on SQLite again")
    unlink_sqlite(inproc_db)
    report.inprocess_sqlite_runs.append(
        inprocess_rate(f"sqlite:///{inproc_db}", entries, args.batch, args.workers))
    unlink_sqlite(inproc_db)
    for s in report.setups:
        if s.database == "sqlite":
            s.inprocess_per_s = report.inprocess_sqlite  # the best of both runs
    return finish(report, args)


if __name__ == "__main__":
    sys.exit(main())
