"""CLI start-up: ``python -m bench.cli [--runs 15] [--json out.json]`` (``make bench-cli``).

Times, each in a new interpreter the way a person runs it, interleaved in one run, medians:

* ``python -c pass`` (the interpreter alone) and ``passport --help`` (the command index);
* ``passport set``, ``show`` and ``read`` with the wallet agent running (``passport agent
  start``: no passphrase, no Argon2id), each on a synced wallet whose chain has 10 and 1,000
  records, against a real node process (``passport node serve``, SQLite, one worker).

``read`` is a service's read of a member who granted it ``city``.  The wallets are made in
bulk and synced once in this process, so each command starts from the chain state kept in
the wallet home (``wallet.resume``) and fetches only what is new.  The commands run with
their bytecode cached (PYTHONPYCACHEPREFIX in a temporary directory, the way an installed
CLI runs), whatever PYTHONDONTWRITEBYTECODE says.  Beside each wall time, the CPU time the
command used itself (its rusage), which a busy machine inflates less.  ``--compare DIR``
adds the same commands run from another checkout (e.g. ``/work/main``: the CLI without the
change under test; given the passphrase, so a CLI without the agent unlocks itself), in the
same run.  Targets (issue 18): each of set, show, read at most 250 ms, the same at 10 and 1,000
(within noise); ``--help`` at most 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_TARGET_MS, COMMAND_TARGET_MS = 150.0, 250.0
LENGTHS = (10, 1000)
PASSPORT = [sys.executable, "-c", "from cli.main import main; main()"]
DAY_MS = 86_400_000


def wall_ms(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time of one run, and the CPU time (user + system) the command used itself.  It
    runs in the checkout its PYTHONPATH names (``python -c`` puts the directory it runs in
    first on its path)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=env["PYTHONPATH"])
    took = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[3:])} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return took, cpu


def wallets(root: Path, url: str) -> dict[str, Path]:
    """Two members (chains of 10 and 1,000) who granted ``city`` to one service; homes."""
    from bench.wallet_set import PASS, member  # noqa: PLC0415 (only with wallets)
    from ledger.times import now_ms  # noqa: PLC0415
    from wallet import keystore  # noqa: PLC0415
    from wallet.wallet import Wallet  # noqa: PLC0415

    homes = {"service": root / "service"}
    keystore.save(keystore.create("service"), homes["service"], PASS, profile="interactive")
    service = Wallet(homes["service"], keystore.load(homes["service"], PASS), PASS, url)
    service.sync()
    for n in LENGTHS:
        homes[str(n)] = root / f"m{n}"
        # member() writes n records; the grant and the value after it make n + 2.
        w = member(homes[str(n)], url, n)
        w.grant(service.did, ["city"], "bench", now_ms() + DAY_MS)
        w.set("city", "Utrecht")
        w.close()
    service.close()
    return homes


def did_of(home: Path) -> str:
    return str(json.loads((home / "keystore.json").read_text())["did"])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--json", type=Path)
    p.add_argument("--compare", type=Path, help="another checkout (e.g. /work/main): its CLI "
                   "runs the same commands, unlocking the key store itself, in the same run")
    args = p.parse_args(argv)
    from bench.node import NodeProcess  # noqa: PLC0415
    from bench.wallet_set import PASS  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(root / "pyc"))
        node = NodeProcess(str(root / "node.sqlite"), root / "node", workers=1)
        started: list[Path] = []
        try:
            env["PASSPORT_NODE"] = node.url
            homes = wallets(root, node.url)
            for where in homes.values():
                subprocess.run([*PASSPORT, "agent", "start", "--ttl", "1h", "--home", str(where)],
                               env={**env, "PASSPORT_PASSPHRASE": PASS}, check=True,
                               stdout=subprocess.DEVNULL)
                started.append(where)
            # No passphrase in the commands' environment: they must find the agent, or fail.
            agent_env = {k: v for k, v in env.items() if k != "PASSPORT_PASSPHRASE"}
            cases = {"python -c pass": ([sys.executable, "-c", "pass"], agent_env),
                     "passport --help": ([*PASSPORT, "--help"], agent_env)}
            for n in LENGTHS:
                cases.update(commands(homes, n, PASSPORT, agent_env, ""))
            if args.compare:  # the same commands from another checkout, which unlocks itself
                other = {**env, "PYTHONPATH": str(args.compare.resolve()),
                         "PASSPORT_PASSPHRASE": PASS}
                for n in LENGTHS:
                    cases.update(commands(homes, n, PASSPORT, other, f" ({args.compare.name})"))
            times, cpu = run(cases, args.runs)
        finally:
            for where in started:
                subprocess.run([*PASSPORT, "agent", "stop", "--home", str(where)], env=env,
                               check=False, stdout=subprocess.DEVNULL)
            node.stop()
    report(times, cpu, args.runs, args.json)
    return 0


def commands(homes: dict[str, Path], n: int, passport: list[str], env: dict[str, str],
             tag: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """``set``, ``show`` and ``read`` on the wallets of chain length ``n``."""
    home = str(homes[str(n)])
    return {
        f"set, chain {n}{tag}": ([*passport, "set", "activity", "bench", "--home", home], env),
        f"show, chain {n}{tag}": ([*passport, "show", "--home", home], env),
        f"read, chain {n}{tag}": ([*passport, "read", did_of(homes[str(n)]), "--fields",
                                   "city", "--home", str(homes["service"])], env)}


def run(cases: dict[str, tuple[list[str], dict[str, str]]], runs: int
        ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU milliseconds of each case, ``runs`` times, interleaved."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for command, env in cases.values():
        wall_ms(command, env)  # warm the page cache and write the bytecode, unmeasured
    for _ in range(runs):
        for name, (command, env) in cases.items():
            wall, used = wall_ms(command, env)
            times[name].append(wall)
            cpu[name].append(used)
    return times, cpu


def report(times: dict[str, list[float]], cpu: dict[str, list[float]], runs: int,
           out: Path | None) -> None:
    medians = {name: statistics.median(t) for name, t in times.items()}
    cpu_medians = {name: statistics.median(t) for name, t in cpu.items()}
    base = medians["python -c pass"]
    print(f"load average {os.getloadavg()[0]:.2f}, {runs} runs each, interleaved, medians "
          "(wall, and the CPU time the command itself used)")
    for name, m in medians.items():
        print(f"  {name:<26} {m:7.1f} ms  ({m / base:4.1f} x python -c pass)  "
              f"cpu {cpu_medians[name]:6.1f} ms")
    verdicts = {"passport --help": medians["passport --help"] <= HELP_TARGET_MS}
    for cmd in ("set", "show", "read"):
        small, large = medians[f"{cmd}, chain 10"], medians[f"{cmd}, chain 1000"]
        verdicts[cmd] = max(small, large) <= COMMAND_TARGET_MS
        print(f"  {cmd}: chain 1,000 / chain 10 = {large / small:.2f}")
    for name, ok in verdicts.items():
        target = HELP_TARGET_MS if name == "passport --help" else COMMAND_TARGET_MS
        print(f"  {name} <= {target:g} ms: {'PASS' if ok else 'MISS'} (under this load)")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"medians_ms": medians, "cpu_medians_ms": cpu_medians,
                                   "runs_ms": times, "load_average": os.getloadavg()},
                                  indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
