"""The committed ABI and bytecode are exactly what the pinned solcjs makes of Anchor.sol."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from contracts.chain import BUILD_FILE, artifact

ROOT = Path(__file__).resolve().parents[2]


def test_rebuild_with_pinned_solc_matches_committed_output_byte_for_byte() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["solc"]
    built = subprocess.run(["node", str(ROOT / "contracts" / "build.js")], cwd=ROOT,
                           capture_output=True, check=True, timeout=300).stdout
    assert json.loads(built)["compiler"].startswith(f"solc {pinned}+")
    assert built == BUILD_FILE.read_bytes()


def test_artifact_exposes_anchor_latest_and_the_event() -> None:
    abi = {(item.get("name"), item["type"]) for item in artifact()["abi"]}
    assert {("anchor", "function"), ("latest", "function"), ("Anchored", "event"),
            ("SizeNotGreater", "error")} <= abi
    assert artifact()["deployedBytecode"].startswith("0x6080")
