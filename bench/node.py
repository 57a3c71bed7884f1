"""Node benchmark over HTTP: ``python -m bench.node [--records 100000] [--read-size 1000000] ...``.

Starts real ``passport node serve`` processes on loopback and drives them from separate
load-generator processes (``bench.loadgen``): single appends from many clients, batch appends,
and signed scoped reads from 100 concurrent services, for one worker on SQLite and two workers
on PostgreSQL.  Beside them, in the same run, the in-process append rate of the ledger core on
the same records (``bench.ledger.build``: ``Ledger.prepare`` + ``append_prepared`` on a fresh
SQLite file), so that the HTTP batch rate reads as a ratio of it.  Prints a table; ``--json``
writes every figure.  Nothing here is asserted by the tests.  See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import nacl.signing
import psycopg

from bench import ledger as ledger_bench
from bench import loadgen, workload
from bench.loadgen import Job, Outcome, Target
from bench.workload import Entry
from ledger import consent, keys
from ledger.records import parse_record
from ledger.times import now_ms
from passport_api.client import NodeClient

ROOT = Path(__file__).resolve().parents[1]
BATCH_TARGET = 0.50  # HTTP batch append, as a share of the in-process append rate
READ_P99_TARGET_MS = 20.0
READ_TARGET_CLIENTS = 100
READ_TARGET_SIZE = 1_000_000
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20
PHASE_TIMEOUT_S = 3600
REFERENCE = "reference route,"  # figure names of the minimal signed route's phases
READ_SHARE_TARGET = 0.50  # reads/s as a share of the reference's, at 100 clients
P99_FACTOR_TARGET = 2.0  # read p99 at most this times the reference's
APPEND_SHARE_TARGET = 0.50  # single appends/s (32 clients) as a share of the reference's
READ_MEMBERS = 10_000  # members sampled for the read targets
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "passport_bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GRANT_MARK = b'"type":"consent.grant"'


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _author(raw: bytes) -> str:
    return raw[11:raw.index(b'"', 11)].decode()  # canonical JSON: {"author":"did:key:..."


# --- a node in its own process group -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """``passport node serve`` on 127.0.0.1, in a session of its own so it can be stopped whole
    (uvicorn workers, verify pools) and its CPU time counted."""

    def __init__(self, db: str, home: Path, workers: int, args: Sequence[str] = (),
                 port: int | None = None, reference: str | None = None) -> None:
        """``reference``: serve ``bench.reference_node`` in that mode instead of the node."""
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.with_suffix(".log")
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if reference is None:
            command = [sys.executable, "-c", "from cli.main import main; main()", "node",
                       "serve", "--host", "127.0.0.1", "--port", str(self.port), "--db", db,
                       "--home", str(home), "--workers", str(workers), *args]
        else:
            command = [sys.executable, "-m", "bench.reference_node", "--port", str(self.port),
                       "--workers", str(workers), "--mode", reference]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if reference is None:
                self._wait(workers)
            else:
                self._wait_port()
        except BaseException:
            self.stop()
            raise

    def _wait_port(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the reference exited: " + self.log.read_text()[-2000:])
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    time.sleep(1.0)  # the other workers start with the first
                    return
            time.sleep(0.2)
        raise RuntimeError("the reference did not start: " + self.log.read_text()[-2000:])

    def _wait(self, workers: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        answered = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the node exited: " + self.log.read_text()[-2000:])
            if NodeClient(self.url, timeout=2).is_ready():
                # Each worker opens its ledger on start; ask until all have had the time.
                answered += 1
                if answered >= 3 * workers:
                    return
                continue
            time.sleep(0.2)
        raise RuntimeError("the node did not become ready: " + self.log.read_text()[-2000:])

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process of the node's session."""
        ticks = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == self.proc.pid:  # session id
                ticks += int(fields[11]) + int(fields[12])
        return ticks / CLK_TCK

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextmanager
def running_node(db: str, home: Path, workers: int) -> Iterator[NodeProcess]:
    node = NodeProcess(db, home, workers)
    try:
        yield node
    finally:
        node.stop()


# --- figures -----------------------------------------------------------------------------------


@dataclass
class Figure:
    """One load phase: ``per_s`` counts records (appends) or reads."""

    name: str
    clients: int
    requests: int
    items: int
    failures: int
    wall_s: float
    per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    node_cpu_cores: float  # node CPU seconds per wall second (2 = both cores)
    generator_cpu_cores: float
    generator_processes: int
    errors: list[str] = field(default_factory=list)


@dataclass
class Setup:
    database: str
    workers: int
    append_records: int
    read_ledger_records: int
    inprocess_per_s: float | None = None  # the ledger core on this database, same records
    figures: dict[str, Figure] = field(default_factory=dict)


@dataclass
class Report:
    machine: dict[str, Any]
    args: dict[str, Any]
    inprocess_sqlite_runs: list[float] = field(default_factory=list)
    read_ledger_build_per_s: float | None = None
    setups: list[Setup] = field(default_factory=list)
    failures: int = 0

    @property
    def inprocess_sqlite(self) -> float:
        # The faster of the runs: a quiet moment raises the bar, never lowers it.
        return max(self.inprocess_sqlite_runs)


def _percentile(sorted_ms: Sequence[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))] if sorted_ms else 0.0


def figure(name: str, clients: int, outcomes: Sequence[Outcome], node_cpu_s: float,
           reads: bool) -> Figure:
    ms = sorted(x / 1e6 for o in outcomes for x in o.latencies_ns)
    ran = [o for o in outcomes if o.started] or [Outcome(started=0.0, ended=1.0)]
    span = max(o.ended for o in ran) - min(o.started for o in ran)
    wall = max(o.window_s for o in ran) if reads else span
    items = sum(o.items for o in outcomes)
    return Figure(
        name=name, clients=clients, requests=sum(o.requests for o in outcomes), items=items,
        failures=sum(o.failures for o in outcomes), wall_s=wall, per_s=items / wall,
        p50_ms=statistics.median(ms) if ms else 0.0, p99_ms=_percentile(ms, 0.99),
        mean_ms=statistics.fmean(ms) if ms else 0.0,
        node_cpu_cores=node_cpu_s / span,
        generator_cpu_cores=sum(o.cpu_s for o in outcomes) / span,
        generator_processes=len(outcomes),
        errors=[e for o in outcomes for e in o.errors][:loadgen.MAX_ERRORS_KEPT])


def drive(node: NodeProcess, name: str, jobs: Sequence[Job], clients: int) -> Figure:
    """Run ``jobs`` in one generator process each, together, against ``node``."""
    ctx = multiprocessing.get_context("forkserver")
    barrier = ctx.Barrier(len(jobs) + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=loadgen.run, args=(job, barrier, results)) for job in jobs]
    for p in procs:
        p.start()
    try:
        try:
            barrier.wait(timeout=600)
        except Exception:  # a generator failed while preparing: show its report
            outcomes = loadgen.collect(results, procs, 60)
            raise RuntimeError(f"{name}: a load generator failed: "
                               f"{[e for o in outcomes for e in o.errors]}") from None
        cpu0 = node.cpu_seconds()
        outcomes = loadgen.collect(results, procs, PHASE_TIMEOUT_S)
        cpu1 = node.cpu_seconds()
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    fig = figure(name, clients, outcomes, cpu1 - cpu0, reads=jobs[0].kind in ("read",
                                                                              "verified"))
    _say(f"  {name}: {fig.items:,} in {fig.wall_s:.1f} s = {fig.per_s:,.0f}/s, p50 "
         f"{fig.p50_ms:.1f} ms, p99 {fig.p99_ms:.1f} ms, failures {fig.failures}"
         + (f" ({fig.errors[0]})" if fig.errors else ""))
    return fig


# --- workloads ---------------------------------------------------------------------------------


def by_member(entries: Sequence[Entry], parts: int) -> list[list[Entry]]:
    """``parts`` streams, each member's records in one of them, in log (hence seq) order."""
    streams: list[list[Entry]] = [[] for _ in range(parts)]
    slot: dict[str, int] = {}
    for e in entries:
        author = _author(e.raw)
        i = slot.setdefault(author, len(slot) % parts)
        streams[i].append(e)
    return streams


def append_jobs(url: str, entries: Sequence[Entry], clients: int, processes: int) -> list[Job]:
    streams = by_member(entries, clients)
    return [Job("append", url, streams=streams[p::processes]) for p in range(processes)]


def batch_jobs(url: str, entries: Sequence[Entry], clients: int, batch: int,
               warmup: Sequence[Entry]) -> list[Job]:
    """One process per client: each sends its member-disjoint stream, a batch at a time,
    after an unmeasured resend of ``warmup`` (records the node holds already)."""
    jobs = []
    for stream in by_member(entries, clients):
        batches = [stream[i:i + batch] for i in range(0, len(stream), batch)]
        jobs.append(Job("batch", url, batches=[batches], warmup=list(warmup[:batch])))
    return jobs


def read_jobs(url: str, targets: list[Target], clients: int, processes: int, warmup_s: float,
              seconds: float) -> list[Job]:
    shares = [clients // processes + (1 if p < clients % processes else 0)
              for p in range(processes)]
    firsts = [sum(shares[:p]) for p in range(processes)]
    return [Job("read", url, targets=targets, clients=n, first_client=first,
                warmup_s=warmup_s, seconds=seconds)
            for n, first in zip(shares, firsts, strict=True) if n]


def read_targets(entries: Sequence[Entry], members: int, seed: int = 11) -> list[Target]:
    """Reads the ledger's grants allow today: for sampled members who granted fields to one
    of the workload's reader services, every field of a live grant that the node will serve
    (``consent.authorize`` decides here exactly as it will in the node)."""
    readers = {keys.did_of(workload._reader(i)): i for i in range(workload.READERS)}
    granting = sorted({_author(e.raw) for e in entries if GRANT_MARK in e.raw})
    chosen = set(random.Random(seed).sample(granting, min(members, len(granting))))
    chains: dict[str, list[bytes]] = {}
    for e in entries:
        author = _author(e.raw)
        if author in chosen:
            chains.setdefault(author, []).append(e.raw)
    now = now_ms()
    targets = []
    for member in sorted(chains):
        view = consent.PassportView.from_records([parse_record(r) for r in chains[member]],
                                                 member=member)
        for grant in consent.live_grants(view, now):
            reader = readers.get(grant.grantee)
            if reader is None:
                continue
            plan = consent.authorize(view, grant.grantee, grant.fields, now)
            if not plan.refused:
                targets.append(Target(reader, member, grant.fields))
    random.Random(seed).shuffle(targets)
    return targets


# --- in-process builds -------------------------------------------------------------------------


def inprocess_rate(url: str, entries: Sequence[Entry], batch: int, workers: int,
                   log_key: nacl.signing.SigningKey | None = None) -> float:
    """``bench.ledger.build`` on ``url``: the ledger core's streaming batch append rate.

    ``build`` makes its own log key; to serve the ledger afterwards, ``log_key`` is handed to
    it in place of the one it would generate, so the node can open the file as its own.
    """
    if log_key is None:
        return ledger_bench.build(url, entries, batch, workers)[0]
    with mock.patch.object(nacl.signing.SigningKey, "generate", return_value=log_key):
        rate, _, public, _ = ledger_bench.build(url, entries, batch, workers)
    assert public == bytes(log_key.verify_key)
    return rate


def _unlink_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def write_log_key(home: Path, key: nacl.signing.SigningKey) -> None:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / "log.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex() + "\n")


def read_ledger(n: int, out_dir: Path, batch: int, workers: int
                ) -> tuple[Path, Path, list[Entry], float | None]:
    """The SQLite ledger of ``n`` workload records for the read test, with a node home
    holding its log key; built in-process once, then reused (reads only add receipts)."""
    entries = workload.records(n, out_dir, max(os.cpu_count() or 1, workers))
    db, home = out_dir / f"node-reads-{n}.sqlite", out_dir / f"node-reads-{n}"
    done = out_dir / f"node-reads-{n}.done"
    if done.exists() and db.exists() and (home / "log.key").exists():
        return db, home, entries, None
    done.unlink(missing_ok=True)
    _unlink_sqlite(db)
    key = nacl.signing.SigningKey.generate()
    _say(f"building the {n:,}-record read ledger in-process ({db}; reused by later runs)")
    rate = inprocess_rate(f"sqlite:///{db}", entries, batch, workers, log_key=key)
    write_log_key(home, key)
    done.write_text(f"{n}\n")
    return db, home, entries, rate


@contextmanager
def pg_database(admin_url: str, name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the run, dropped afterwards whatever happens."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_pg(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


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


def run_sqlite(entries: Sequence[Entry], args: argparse.Namespace, report: Report) -> None:
    out_dir: Path = args.dir
    db = out_dir / "node-append.sqlite"
    _unlink_sqlite(db)
    workers = args.sqlite_workers
    setup = Setup("sqlite", workers, len(entries), args.read_size)
    report.setups.append(setup)
    setup.inprocess_per_s = report.inprocess_sqlite
    _say(f"SQLite, {workers} worker(s): appends over HTTP ({len(entries):,} records)")
    with running_node(str(db), out_dir / "node-append-home", workers) as node:
        append_phases(node, entries, args, setup)
    _unlink_sqlite(db)
    read_db, home, read_entries, rate = read_ledger(args.read_size, out_dir, args.batch,
                                                    args.workers)
    report.read_ledger_build_per_s = rate
    targets = read_targets(read_entries, READ_MEMBERS)
    del read_entries
    gc.collect()
    _say(f"SQLite, {workers} worker(s): reads on the {args.read_size:,}-record ledger "
         f"({len(targets):,} allowed reads)")
    with running_node(str(read_db), home, workers) as node:
        read_phases(node, targets, args, setup)
    reference_phases(targets, args, setup)


def run_postgres(entries: Sequence[Entry], args: argparse.Namespace, report: Report) -> None:
    with pg_database(args.pg_admin, args.pg_database) as url:
        _say(f"PostgreSQL: in-process append ({len(entries):,} records)")
        setup = Setup("postgresql", args.pg_workers, len(entries), len(entries))
        report.setups.append(setup)
        setup.inprocess_per_s = inprocess_rate(url, entries, args.batch, args.workers)
        _reset_pg(args.pg_admin, args.pg_database)
        _say(f"PostgreSQL, {args.pg_workers} workers: appends over HTTP, then reads on the "
             "same ledger")
        with running_node(url, args.dir / "node-pg-home", args.pg_workers) as node:
            append_phases(node, entries, args, setup)
            targets = read_targets(entries, READ_MEMBERS)
            read_phases(node, targets, args, setup)
        reference_phases(targets, args, setup)


# --- the table, the command ----------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(report: Report) -> str:
    base = report.inprocess_sqlite
    lines = [f"in-process append (ledger core, fresh SQLite file): {base:,.0f} records/s "
             f"(best of {', '.join(f'{r:,.0f}' for r in report.inprocess_sqlite_runs)})"]
    if report.read_ledger_build_per_s:
        lines.append(f"in-process append while building the {report.args['read_size']:,}-record"
                     f" read ledger: {report.read_ledger_build_per_s:,.0f} records/s")
    for s in report.setups:
        lines.append(f"== {s.database}, {s.workers} worker(s): appends of {s.append_records:,} "
                     f"records; reads on a ledger of {s.read_ledger_records:,}")
        if s.inprocess_per_s and s.database != "sqlite":
            lines.append(f"  in-process append on {s.database}: {s.inprocess_per_s:,.0f} "
                         "records/s")
        for f in s.figures.values():
            unit = "records/s" if "append" in f.name else "reads/s"
            lines.append(
                f"  {f.name:<24} {f.per_s:>9,.0f} {unit:<9} p50 {f.p50_ms:7.1f} ms  p99 "
                f"{f.p99_ms:7.1f} ms  ({f.clients} clients, {f.items:,} in {f.wall_s:.1f} s, "
                f"failures {f.failures}; CPU: node {f.node_cpu_cores:.2f}, generator "
                f"{f.generator_cpu_cores:.2f} cores)")
        batch = s.figures.get("batch append")
        if batch:
            ratio = batch.per_s / base
            lines.append(f"  HTTP batch append = {ratio:.0%} of the in-process SQLite rate "
                         f"[target >= {BATCH_TARGET:.0%}: {_verdict(ratio >= BATCH_TARGET)}]"
                         + (f"; {batch.per_s / s.inprocess_per_s:.0%} of in-process on "
                            f"{s.database}" if s.database != "sqlite" and s.inprocess_per_s
                            else ""))
        lines.extend(_reference_lines(s))
        reads = s.figures.get(f"read, {READ_TARGET_CLIENTS} clients")
        if reads:
            at_size = s.read_ledger_records >= READ_TARGET_SIZE
            lines.append(
                f"  read p99 at {READ_TARGET_CLIENTS} clients = {reads.p99_ms:.1f} ms "
                f"[target < {READ_P99_TARGET_MS:g} ms on {READ_TARGET_SIZE:,} records: "
                + (_verdict(reads.p99_ms < READ_P99_TARGET_MS) if at_size
                   else f"ledger of {s.read_ledger_records:,} only, not the target size")
                + "]")
    return "\n".join(lines)


def reference_ratios(s: Setup) -> dict[str, float]:
    """The node's figures as ratios of the reference route's, measured in the same run."""
    f, out = s.figures, {}
    many = max([x.clients for name, x in f.items() if name.startswith("read, ")], default=1)
    for clients in sorted({1, many}):
        suffix = f"{clients} client" + ("s" if clients > 1 else "")
        node, ref = f.get(f"read, {suffix}"), f.get(f"{REFERENCE} {suffix}")
        if node and ref and ref.per_s and ref.p99_ms:
            out[f"reads_share_{clients}"] = node.per_s / ref.per_s
            out[f"p99_factor_{clients}"] = node.p99_ms / ref.p99_ms
    one, most = f.get("read, 1 client"), f.get(f"read, {many} clients")
    if one and most and one.per_s:
        out["reads_many_over_1"] = most.per_s / one.per_s
    single = f.get("single append")
    ref32 = next((x for name, x in f.items() if name.startswith(REFERENCE)
                  and x.clients == single.clients), None) if single else None
    if single and ref32 and ref32.per_s:
        out["single_append_share"] = single.per_s / ref32.per_s
    return out


def _reference_lines(s: Setup) -> list[str]:
    r = reference_ratios(s)
    lines = []
    for clients in sorted(int(k.rsplit("_", 1)[1]) for k in r if k.startswith("reads_share_")):
        if f"reads_share_{clients}" in r:
            share, factor = r[f"reads_share_{clients}"], r[f"p99_factor_{clients}"]
            verdict = (f" [targets >= {READ_SHARE_TARGET:.0%} and <= {P99_FACTOR_TARGET:g}x: "
                       f"{_verdict(share >= READ_SHARE_TARGET)}, "
                       f"{_verdict(factor <= P99_FACTOR_TARGET)}]"
                       if clients == READ_TARGET_CLIENTS else "")
            lines.append(f"  reads at {clients} client(s) = {share:.0%} of the reference's "
                         f"reads/s, p99 {factor:.2f}x the reference's{verdict}")
    if "reads_many_over_1" in r:
        ratio = r["reads_many_over_1"]
        lines.append(f"  reads/s at the most clients / at 1 client = {ratio:.2f} "
                     f"[target >= 1: {_verdict(ratio >= 1)}]")
    if "single_append_share" in r:
        share = r["single_append_share"]
        lines.append(f"  single appends/s = {share:.0%} of the reference's reads/s at the same "
                     f"clients [target >= {APPEND_SHARE_TARGET:.0%}: "
                     f"{_verdict(share >= APPEND_SHARE_TARGET)}]")
    return lines


def report_json(report: Report) -> dict[str, Any]:
    base = report.inprocess_sqlite
    doc = asdict(report)
    doc["inprocess_sqlite_per_s"] = base
    for s, out in zip(report.setups, doc["setups"], strict=True):
        batch = s.figures.get("batch append")
        reads = s.figures.get(f"read, {READ_TARGET_CLIENTS} clients")
        out["reference_ratios"] = reference_ratios(s)
        out["batch_ratio_to_inprocess_sqlite"] = batch.per_s / base if batch else None
        out["batch_target_met"] = batch.per_s / base >= BATCH_TARGET if batch else None
        out["read_p99_target_met"] = (reads.p99_ms < READ_P99_TARGET_MS
                                      if reads and s.read_ledger_records >= READ_TARGET_SIZE
                                      else None)
    doc["load_average_at_end"] = os.getloadavg()
    return doc


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
                   help="records in the SQLite ledger the reads run on (default 1,000,000)")
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
    p.add_argument("--pg-admin", default=PG_ADMIN,
                   help=f"PostgreSQL maintenance database URL (default {PG_ADMIN})")
    p.add_argument("--pg-database", default=PG_DATABASE,
                   help="database created for the run and dropped after it")
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
    entries = workload.records(args.records, out_dir, max(os.cpu_count() or 1, args.workers))
    inproc_db = out_dir / "node-inprocess.sqlite"
    _say(f"in-process append on SQLite ({len(entries):,} records)")
    _unlink_sqlite(inproc_db)
    report.inprocess_sqlite_runs.append(
        inprocess_rate(f"sqlite:///{inproc_db}", entries, args.batch, args.workers))
    run_sqlite(entries, args, report)
    if not args.no_pg:
        run_postgres(entries, args, report)
    _say("in-process append on SQLite again")
    _unlink_sqlite(inproc_db)
    report.inprocess_sqlite_runs.append(
        inprocess_rate(f"sqlite:///{inproc_db}", entries, args.batch, args.workers))
    _unlink_sqlite(inproc_db)
    for s in report.setups:
        if s.database == "sqlite":
            s.inprocess_per_s = report.inprocess_sqlite  # the best of both runs
    report.failures = sum(f.failures for s in report.setups for f in s.figures.values())
    print(table(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report_json(report), indent=2) + "\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
