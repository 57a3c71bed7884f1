"""CLI start-up: ``python -m bench.cli [--runs 15] [--json out.json]``.

Times ``passport --help`` (a new interpreter each run, the way a person runs it) beside the
interpreter alone (``python -c pass``), interleaved in the same run, medians.  The CLI's
commands load lazily (cli.lazy), so ``--help`` costs the interpreter, Typer and the command
index.  The wallet agent of issue 18 item 3 is not built, so ``set``/``show``/``read`` with
an agent are not measured here (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_TARGET_MS = 150.0
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "passport --help": [sys.executable, "-c", "from cli.main import main; main()", "--help"],
}


def wall_ms(argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for command in CASES.values():
        wall_ms(command)  # warm the page cache, unmeasured
    for _ in range(args.runs):
        for name, command in CASES.items():
            times[name].append(wall_ms(command))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["python -c pass"]
    print(f"load average {os.getloadavg()[0]:.2f}, {args.runs} runs each, interleaved, medians")
    for name, m in medians.items():
        print(f"  {name:<18} {m:7.1f} ms  ({m / base:.1f} x python -c pass)")
    help_ms = medians["passport --help"]
    print(f"  passport --help <= {HELP_TARGET_MS:g} ms: "
          f"{'PASS' if help_ms <= HELP_TARGET_MS else 'MISS'} (measured under this load)")
    if args.json:
        args.json.write_text(json.dumps({"medians_ms": medians, "runs_ms": times,
                                         "load_average": os.getloadavg()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
