"""The soak (bench/soak.py) in a short version: it runs end to end on loopback and reports no
error, no acknowledged record missing and a clean audit.  No timing or rate is asserted (the
machine is shared); ``make soak`` runs the long version and docs/benchmarks.md has its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHORT_S = 15


def test_a_short_soak_runs_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", str(SHORT_S), "--clients", "4",
         "--members-per-client", "4", "--max-growth-mib", "1024", "--dir", str(tmp_path),
         "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert report["failures"] == [] and report["missing"] == 0 and report["audit_ok"]
    soak = report["soak"]
    assert soak["errors"] == 0 and soak["error_samples"] == []
    assert set(soak["by_kind"]) == {"append", "batch", "head", "record", "proof", "read"}
    assert soak["records_acknowledged"] > 0
    assert report["stored_size"] >= soak["records_acknowledged"]
    assert report["rss_samples"] and report["rss_kib"]["max"] >= report["rss_kib"]["start"] > 0
    assert 0 < report["rss_anon_kib"]["max"] <= report["rss_kib"]["max"]
    assert "verdict: ok" in run.stdout
