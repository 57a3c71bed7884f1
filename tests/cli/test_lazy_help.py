"""``passport --help`` lists every command without importing any (cli.lazy), and the commands
still run through the lazy root group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.lazy import build_index, index
from tests.cli.support import PROBE

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "uvicorn", "starlette", "httpx", "sqlalchemy", "nacl", "wallet",
         "passport_api", "matching", "web3", "typer", "rich")


def passport(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          check=False,
                          env=env, timeout=120)


def test_the_index_matches_the_commands() -> None:
    assert index() == build_index(), "commands changed: run 'python -m cli.lazy' to re-index"


def test_help_lists_every_command_and_imports_none_of_them() -> None:
    done = passport("--help")
    assert "EXIT 0" in done.stdout, done.stderr
    loaded = set(done.stdout.split("MODULES ")[1].split("\n")[0].split())
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    for name in json.loads((ROOT / "cli" / "help_index.json").read_text()):
        assert f" {name} " in done.stdout, name


def test_the_plain_help_names_every_command_with_its_help() -> None:
    done = passport("--help")
    for name, text in index().items():
        first = text.split("\n\n")[0].replace("\n", " ")
        line = next(x for x in done.stdout.splitlines() if x.startswith(f"  {name} "))
        shown = line[len(name) + 2:].strip().removesuffix("...")
        assert first.startswith(shown), (name, shown)


def test_commands_still_run_through_the_lazy_root() -> None:
    ledger = passport("ledger", "--help")
    assert "EXIT 0" in ledger.stdout and "audit" in ledger.stdout, ledger.stderr
    unknown = passport("no-such-command")
    assert "EXIT 2" in unknown.stdout
    assert unknown.stderr.count("\n") == 1 and "no-such-command" in unknown.stderr
