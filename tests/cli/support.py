"""Parties driving the real ``passport`` binary against real nodes (attestations, export)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests import clizygote
from tests.api.conftest import Node

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery"
# ``passport ARGS`` in a fresh interpreter (not the zygote), then the top-level packages it
# loaded: what a person's command imports.
PROBE = """
import sys
from cli.main import main
sys.argv = ["passport", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    code = e.code
print("\\nMODULES " + " ".join(sorted({m.split(".")[0] for m in sys.modules})))
print("EXIT", code)
"""


def start(*args: str, node: str) -> clizygote.Forked:
    """``passport *args`` in a new process (forked from the suite's CLI zygote)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": PASSPHRASE,
           "PASSPORT_KDF": "interactive", "PASSPORT_NODE": node, "COLUMNS": "200"}
    env.pop("PASSPORT_HOME", None)
    env.pop("PASSPORT_DEBUG", None)
    return clizygote.start(args, env)


def finish(proc: clizygote.Forked) -> subprocess.CompletedProcess[str]:
    return clizygote.finish(proc)


def passport(*args: str, node: str) -> subprocess.CompletedProcess[str]:
    return finish(start(*args, node=node))


def together(*procs: clizygote.Forked) -> list[subprocess.CompletedProcess[str]]:
    """Wait for commands started side by side (each CLI start-up costs seconds)."""
    return [finish(p) for p in procs]


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command prints; fails on a traceback or a zero exit."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("passport: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


class Party:
    """One wallet home, talking to one node unless told otherwise."""

    def __init__(self, home: Path, node: Node) -> None:
        self.home, self.node = home, node
        self.did = ""

    def start(self, *args: str, node: Node | None = None) -> clizygote.Forked:
        return start(*args, "--home", str(self.home), node=(node or self.node).url)

    def run(self, *args: str, node: Node | None = None) -> subprocess.CompletedProcess[str]:
        return finish(self.start(*args, node=node))

    def ok(self, *args: str, node: Node | None = None) -> Any:
        result = self.run(*args, "--json", node=node)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def fails(self, *args: str, node: Node | None = None) -> str:
        return one_error_line(self.run(*args, node=node))

    def init(self, name: str, role: str = "member") -> Party:
        self.did = self.ok("init", "--name", name, "--role", role)["did"]
        return self
