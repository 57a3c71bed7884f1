"""The run's table and JSON: every figure beside the reference route's, the targets."""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict
from typing import Any

from bench.nodebench.figures import Report, Setup

BATCH_TARGET = 0.50  # HTTP batch append, as a share of the in-process append rate
READ_P99_TARGET_MS = 20.0
READ_TARGET_CLIENTS = 100
READ_TARGET_SIZE = 1_000_000
REFERENCE = "reference route,"  # figure names of the minimal signed route's phases
READ_SHARE_TARGET = 0.50  # reads/s as a share of the reference's, at 100 clients
P99_FACTOR_TARGET = 2.0  # read p99 at most this times the reference's
APPEND_SHARE_TARGET = 0.50  # single appends/s (32 clients) as a share of the reference's


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(report: Report) -> str:
    base = report.inprocess_sqlite
    lines = [f"in-process append (ledger core, fresh SQLite file): {base:,.0f} records/s "
             f"(best of {', '.join(f'{r:,.0f}' for r in report.inprocess_sqlite_runs)})"
             ] if base else []
    if report.read_ledger_build_per_s:
        lines.append(f"in-process append while building the {report.args['read_size']:,}-record"
                     f" read ledger: {report.read_ledger_build_per_s:,.0f} records/s")
    if report.pg_read_ledger_build_per_s:
        lines.append(f"the same on PostgreSQL: {report.pg_read_ledger_build_per_s:,.0f} records/s")
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
    shares, factors = paired_ratios(s)
    if shares:
        out[f"interleaved_reads_share_{many}"] = statistics.median(shares)
        out[f"interleaved_p99_factor_{many}"] = statistics.median(factors)
    one, most = f.get("read, 1 client"), f.get(f"read, {many} clients")
    if one and most and one.per_s:
        out["reads_many_over_1"] = most.per_s / one.per_s
    single = f.get("single append")
    ref32 = next((x for name, x in f.items() if name.startswith(REFERENCE)
                  and x.clients == single.clients), None) if single else None
    if single and ref32 and ref32.per_s:
        out["single_append_share"] = single.per_s / ref32.per_s
    return out


def paired_ratios(s: Setup) -> tuple[list[float], list[float]]:
    """Each interleaved round's (reads/s share, p99 factor) of the node against the
    reference (``bench.node --rounds``), in round order."""
    shares, factors = [], []
    for name, node in s.figures.items():
        if name.startswith("read, ") and ", round " in name:
            ref = s.figures.get(f"{REFERENCE} {name[len('read, '):]}")
            if ref and ref.per_s and ref.p99_ms:
                shares.append(node.per_s / ref.per_s)
                factors.append(node.p99_ms / ref.p99_ms)
    return shares, factors


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
    shares, factors = paired_ratios(s)
    if shares:
        share, factor = statistics.median(shares), statistics.median(factors)
        lines.append(
            f"  interleaved, {len(shares)} rounds: reads/s = {share:.0%} of the reference's "
            f"(median of {', '.join(f'{x:.0%}' for x in shares)}), p99 {factor:.2f}x "
            f"(median of {', '.join(f'{x:.2f}' for x in factors)}) [targets >= "
            f"{READ_SHARE_TARGET:.0%} and <= {P99_FACTOR_TARGET:g}x: "
            f"{_verdict(share >= READ_SHARE_TARGET)}, {_verdict(factor <= P99_FACTOR_TARGET)}]")
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
        out["batch_ratio_to_inprocess_sqlite"] = batch.per_s / base if batch and base else None
        out["batch_target_met"] = (batch.per_s / base >= BATCH_TARGET if batch and base
                                   else None)
        out["read_p99_target_met"] = (reads.p99_ms < READ_P99_TARGET_MS
                                      if reads and s.read_ledger_records >= READ_TARGET_SIZE
                                      else None)
    doc["load_average_at_end"] = os.getloadavg()
    return doc
