"""The node anchors on its own (real node processes, real anvil), serves evidence, and the
CLI checks it against the chain alone; ``passport node anchor`` anchors on demand."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.main import main
from contracts.chain import Chain
from contracts.errors import SenderMismatchError
from contracts.evidence import check_proofs, log_id, verify_evidence
from ledger.encoding import b64url_encode
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from tests.anchor.conftest import Anvil, add_records
from tests.api.conftest import Node, free_port
from tests.store.support import members_batch
from wallet.evidence import evidence_for

WAIT_S = 90  # an upper bound for slow machines, not a timing assertion


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def passport(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
             ) -> Callable[..., Ran]:
    """The real ``passport`` entry point, in this process (a subprocess costs seconds)."""

    def run(*args: str) -> Ran:
        monkeypatch.setattr(sys, "argv", ["passport", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def anchoring_node(home: Path, db: str, workers: int, anchor_args: list[str]) -> Node:
    """``passport node serve`` with anchoring options, polling the chain every 0.2 s."""
    return Node(home, db, workers, anchor_args, env={"PASSPORT_ANCHOR_POLL_S": "0.2"})


@pytest.fixture
def started() -> Iterator[list[Node]]:
    nodes: list[Node] = []
    yield nodes
    for node in nodes:
        node.stop()


def append(http: httpx.Client, n: int) -> list[str]:
    raws, blobs = members_batch(n)
    response = http.post("/v1/records/batch", json={
        "records": [r.decode() for r in raws],
        "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})
    assert response.status_code == 201, response.text
    ids: list[str] = response.json()["ids"]
    return ids


def wait_for_anchor(http: httpx.Client, size: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        anchors: list[dict[str, Any]] = http.get("/v1/anchors").json()["anchors"]
        if any(a["tree_size"] == size and a["status"] == "confirmed" for a in anchors):
            return anchors
        time.sleep(0.2)
    raise AssertionError(f"no confirmed anchor of size {size}: {anchors}")


def test_node_anchors_on_its_own_and_verify_proof_checks_the_evidence_on_chain(
        db_url: str, anvil: Anvil, tmp_path: Path, started: list[Node],
        passport: Callable[..., Ran]) -> None:
    # two workers on PostgreSQL: the lease must keep them from anchoring twice
    workers = 1 if "://" not in db_url else 2
    node = anchoring_node(tmp_path / "home", db_url, workers,
                         ["--anchor-rpc", anvil.url, "--anchor-every-records", "5"])
    started.append(node)
    with httpx.Client(base_url=node.url, timeout=30) as http:
        ids = append(http, 3)
        assert http.get("/v1/anchors").json()["anchors"] == []  # 3 < 5: not due yet
        ids += append(http, 2)
        anchors = wait_for_anchor(http, 5)
        assert [a["tree_size"] for a in anchors] == [5]  # one anchor, not one per worker
        evidence = http.get(f"/v1/records/{ids[3]}/evidence").json()
    assert evidence == evidence_for(node.url, ids[3])
    sender = anchors[0]["sender"]
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence))
    ok = passport("verify-proof", str(path), "--rpc", anvil.url, "--sender", sender)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"ok: record {ids[3]} (index 3)")

    evidence["consistency" if evidence["consistency"] else "inclusion"][0] = b64url_encode(
        b"\x00" * 32)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(evidence))
    bad = passport("verify-proof", str(tampered), "--rpc", anvil.url)
    assert bad.returncode == 1
    assert bad.stderr.startswith("passport: error:") and bad.stderr.count("\n") == 1
    with pytest.raises(SenderMismatchError, match="not by the expected"):
        verify_evidence(json.loads(path.read_text()), anvil.url, expected_sender="0x" + "44" * 20)


def test_node_keeps_serving_while_the_chain_is_down(tmp_path: Path,
                                                   started: list[Node]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    node = anchoring_node(tmp_path / "home", str(tmp_path / "n.sqlite"), 1,
                         ["--anchor-rpc", dead, "--anchor-every-records", "1"])
    started.append(node)
    with httpx.Client(base_url=node.url, timeout=30) as http:
        first = append(http, 2)
        second = append(http, 2)  # anchoring keeps failing in the background meanwhile
        assert http.get(f"/v1/records/{first[0]}").status_code == 200
        assert http.get("/v1/health").json()["size"] == 4
        assert http.get("/v1/anchors").json() == {"anchors": []}
        refused = http.get(f"/v1/records/{second[1]}/evidence")
        assert refused.status_code == 422
        assert refused.json()["type"] == "/v1/problems/not-anchored"


def test_passport_node_anchor_anchors_now_and_only_once(anvil: Anvil, tmp_path: Path,
                                                        passport: Callable[..., Ran]) -> None:
    home, db_url = tmp_path / "home", str(tmp_path / "node.sqlite")
    ledger = Ledger.open(db_url, log_key=load_or_create_log_key(home), verify_workers=0)
    try:
        add_records(ledger, 3)
        root, origin, public_key = ledger.root(3), ledger.origin, ledger.public_key
    finally:
        ledger.close()
    args = ["node", "anchor", "--db", db_url, "--home", str(home), "--rpc", anvil.url]
    first = passport(*args)
    assert first.returncode == 0, first.stderr
    assert "sent: tree size 3" in first.stdout and "confirmed: tree size 3" in first.stdout
    contract = first.stdout.split("contract ")[1].split(",")[0]
    sender = first.stdout.split("sender ")[1].split()[0]
    assert Chain.connect(anvil.url).latest(contract, sender, log_id(origin, public_key)) == (
        3, root)
    again = passport(*args)
    assert again.returncode == 0 and "sent:" not in again.stdout
    assert "nothing to anchor" in again.stdout
    down = passport(*args[:-1], f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and down.stderr.startswith("passport: error: cannot read")


def test_node_anchors_on_its_in_process_evm_by_default_chain(tmp_path: Path,
                                                            started: list[Node]) -> None:
    """The embedded default: `--anchor-rpc inprocess`, no RPC anywhere, a key the node made."""
    node = anchoring_node(tmp_path / "home", str(tmp_path / "n.sqlite"), 1,
                         ["--anchor-rpc", "inprocess", "--anchor-every-records", "3"])
    started.append(node)
    with httpx.Client(base_url=node.url, timeout=30) as http:
        ids = append(http, 3)
        anchors = wait_for_anchor(http, 3)
        assert anchors[0]["chain_id"] == 131277322940537  # eth-tester's chain id
        evidence = http.get(f"/v1/records/{ids[1]}/evidence").json()
    claim = check_proofs(evidence)
    assert (claim.record_id, claim.anchored_size) == (ids[1], 3)
    assert (tmp_path / "home" / "anchor-eth.key").stat().st_mode & 0o077 == 0
