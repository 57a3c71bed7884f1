"""A person who mistypes a command sees one line naming the mistake, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": "x" * 10,
           "PASSPORT_NODE": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-c", "from cli.main import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False,
                          cwd=home)


@pytest.mark.parametrize(("args", "code", "words"), [
    (["grant"], 2, "Missing argument 'did'"),
    (["grant", "did:key:z6Mk", "--fields", "a"], 2, "Missing option '--purpose'"),
    (["nosuch"], 2, "No such command 'nosuch'"),
    (["set", "city", "x", "--expires", "1d"], 2, "No such option: --expires"),
    (["show", "--home", "nowhere"], 1, "no wallet at nowhere"),
    (["init", "--name", "A", "--role", "admin", "--home", "w"], 1, "unknown role 'admin'"),
])
def test_one_line_errors(tmp_path: Path, args: list[str], code: int, words: str) -> None:
    result = run(*args, home=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("passport: error: "), result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_help_still_works(tmp_path: Path) -> None:
    result = run("--help", home=tmp_path)
    assert result.returncode == 0 and "grant" in result.stdout and "checkin" in result.stdout
