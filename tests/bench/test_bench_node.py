"""The node benchmark at a tiny size: it runs end to end and reports every figure, with no
failed request.  No timing is asserted (the machine is shared; see docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"single append", "batch append", "read, 1 client", "read, 4 clients",
           "verified read, 1 client",
           # the minimal signed route, same workers (--clients and --read-clients are both 4)
           "reference route, 1 client", "reference route, 4 clients",
           # --rounds 2: the node's and the reference's phases taking turns
           "read, 4 clients, round 1", "reference route, 4 clients, round 1",
           "read, 4 clients, round 2", "reference route, 4 clients, round 2"}


# Slow: two node processes, three in-process builds and five load phases took 38-54 s on the
# shared 2-core machine (more than the default run should spend); `make test-slow` runs it.
@pytest.mark.slow
def test_node_benchmark_reports_every_figure_without_failures(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.node", "--records", "240", "--singles", "40",
         "--clients", "4", "--batch", "100", "--read-size", "240", "--read-clients", "4",
         "--read-seconds", "1", "--rounds", "2", "--generators", "1", "--workers", "0", "--no-pg",
         "--dir", str(tmp_path), "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert report["failures"] == 0
    assert len(report["inprocess_sqlite_runs"]) == 2 and report["inprocess_sqlite_per_s"] > 0
    (setup,) = report["setups"]
    assert (setup["database"], setup["workers"]) == ("sqlite", 2)  # --sqlite-workers default
    assert set(setup["figures"]) == FIGURES
    for name, fig in setup["figures"].items():
        assert fig["failures"] == 0 and fig["errors"] == [], name
        assert fig["requests"] > 0 and fig["p99_ms"] >= fig["p50_ms"] > 0, name
    assert setup["figures"]["single append"]["items"] == 40
    assert setup["figures"]["batch append"]["items"] == 200
    assert setup["batch_ratio_to_inprocess_sqlite"] > 0
    ratios = setup["reference_ratios"]
    assert set(ratios) == {"reads_share_1", "p99_factor_1", "reads_share_4", "p99_factor_4",
                           "reads_many_over_1", "single_append_share",
                           "interleaved_reads_share_4", "interleaved_p99_factor_4"}
    assert all(v > 0 for v in ratios.values())
    assert "HTTP batch append" in run.stdout
    assert "interleaved, 2 rounds: reads/s = " in run.stdout
