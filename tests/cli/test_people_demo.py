"""`make demo`'s second half: the people demo runs against a real node and checks each step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_people_demo_prints_ok_for_every_step(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", "from cli.main import main; main()", "demo",
                             "--dir", str(tmp_path / "demo")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"},
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    oks = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert len(oks) == 8, result.stdout
    assert "refused" in result.stdout and "rebuilt her passport" in result.stdout
    assert (tmp_path / "demo" / "Alice" / "keystore.json").exists()
