"""One load phase's figures (``drive``), and what a run reports."""

from __future__ import annotations

import multiprocessing
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import loadgen
from bench.loadgen import Job, Outcome
from bench.nodebench.process import NodeProcess

PHASE_TIMEOUT_S = 3600


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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
    read_ledger_build_per_s: float | None = None  # SQLite; None: built by an earlier run
    pg_read_ledger_build_per_s: float | None = None
    setups: list[Setup] = field(default_factory=list)
    failures: int = 0

    @property
    def inprocess_sqlite(self) -> float:
        # The faster of the runs: a quiet moment raises the bar, never lowers it.
        return max(self.inprocess_sqlite_runs, default=0.0)  # 0: --reads-only


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
    say(f"  {name}: {fig.items:,} in {fig.wall_s:.1f} s = {fig.per_s:,.0f}/s, p50 "
         f"{fig.p50_ms:.1f} ms, p99 {fig.p99_ms:.1f} ms, failures {fig.failures}"
         + (f" ({fig.errors[0]})" if fig.errors else ""))
    return fig

