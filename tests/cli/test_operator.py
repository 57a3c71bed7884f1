"""What the operator sees: `passport node serve` says where it listens, which database, which
log key and chain and peers; one access-log line per request without query strings; and the
anchoring commands explain themselves when there is no anchoring to check."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from cli.node_cmds import shown_db
from ledger import keys
from tests.api.conftest import Node, node  # noqa: F401  (a real node per database)
from tests.cli.support import Party, one_error_line, passport


def test_serve_prints_what_the_operator_needs_and_logs_each_request(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'node.sqlite'}"
    served = Node(tmp_path / "home", db, args=("--peer", "http://127.0.0.1:9",
                                               "--name", "Utrecht node"))
    try:
        health = httpx.get(served.url + "/v1/health").json()
        httpx.get(served.url + "/v1/directory?q=secret-token-123")
        listed = httpx.get(served.url + "/v1/directory?q=utrecht").json()["profiles"]
        assert Party(tmp_path / "alice", served).init("Alice").did.startswith("did:key:")
        time.sleep(0.5)  # the log line is written once the response is sent
        log = (tmp_path / "home" / "node.log").read_text()
    finally:
        served.stop()
    log_did = keys.did_from_public_key(bytes.fromhex(health["log_key"]))
    assert f"passport node: http://127.0.0.1:{served.port}" in log
    assert f"database:  {db}" in log
    assert f"log key:   {log_did}" in log
    assert re.search(r"vkey:      passport\.local/log/[0-9a-f]{16}\+[0-9a-f]{8}\+\S+", log)
    assert "anchoring: not configured" in log
    assert "peers:     http://127.0.0.1:9" in log
    assert "profile:   Utrecht node (in the directory)" in log
    (profile,) = [json.loads(p["record"]) for p in listed]  # signed by the node's log key
    assert profile["author"] == log_did and profile["body"]["kind"] == "node"
    assert re.search(r"GET /v1/health 200 \d+B [\d.]+ms", log)
    assert "GET /v1/directory 200" in log
    assert "secret-token-123" not in log  # query strings are never logged


def test_prove_and_verify_proof_say_why_there_is_no_chain_check(node: Node,  # noqa: F811
                                                               tmp_path: Path) -> None:
    alice = Party(tmp_path / "alice", node).init("Alice")
    set_ = alice.ok("set", "city", "Utrecht")
    proof = alice.ok("prove", set_["record"])
    assert proof["verified"] is True
    assert proof["anchor"]["status"] == "not-anchored"
    assert "anchoring is not configured" in proof["anchor"]["reason"]
    evidence = tmp_path / "ev.json"
    evidence.write_text("{}")
    refused = one_error_line(passport("verify-proof", str(evidence), "--rpc", "inprocess",
                                      node=node.url))
    assert "lives inside the node process" in refused


def test_db_passwords_are_not_printed() -> None:
    assert shown_db("postgresql://passport:hunter2@db:5432/p") == \
        "postgresql://passport:***@db:5432/p"
    assert shown_db("/var/lib/passport.sqlite") == "/var/lib/passport.sqlite"
