"""The kill -9 harness of ``test_crash.py``: a client process that appends as fast as the node
takes them and writes down every send and every 201 answer; the node that survives (killed,
restarted on the same database); and the checks after each restart (every acknowledged record
at its index byte for byte, the send in flight resendable, the full audit, every tree head served
before still signed at its size and consistent with the current one)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nacl.signing

from ledger import merkle
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import b64url_decode, b64url_encode
from ledger.parallel import Verifier
from ledger.store.audit import audit
from ledger.store.db import open_engine
from ledger.store.ledger import Ledger
from tests.api.conftest import Node
from tests.store.support import member, set_update

KILL_AFTER_S = (0.2, 2.0)  # the random delay between the client's start and the kill
CLIENT_MEMBERS = 4
BATCH_SHARE = 0.3
HEADS_CHECKED_PER_RESTART = 60


# --- the client process ----------------------------------------------------------------------


def client_stream(url: str, out_path: str, seed: int) -> None:
    """Append until the node stops answering; one JSON line per send and per 201 answer."""
    rng = random.Random(seed)
    members = [member() for _ in range(CLIENT_MEMBERS)]
    with httpx.Client(base_url=url, timeout=15) as http, open(out_path, "a") as out:
        while True:
            chosen = members if rng.random() < BATCH_SHARE else [rng.choice(members)]
            raws: list[bytes] = []
            blobs: dict[str, bytes] = {}
            for m in chosen:
                raw, b = set_update(m, "today", f"value {m.seq + 1} {rng.random()}")
                raws.append(raw)
                blobs.update(b)
            payload: dict[str, Any] = {"blobs": {k: b64url_encode(v) for k, v in blobs.items()}}
            if len(raws) == 1:
                path, payload["record"] = "/v1/records", raws[0].decode()
            else:
                path, payload["records"] = "/v1/records/batch", [r.decode() for r in raws]
            out.write(json.dumps({"pending": {"path": path, "payload": payload}}) + "\n")
            out.flush()
            try:
                answer = http.post(path, json=payload)
            except httpx.HTTPError:
                return  # the node is gone: the send above is in flight, outcome unknown
            if answer.status_code != 201:
                out.write(json.dumps({"refused": answer.status_code, "text": answer.text}) + "\n")
                return
            out.write(json.dumps({"ack": answer.json(), "raws": [r.decode() for r in raws]})
                      + "\n")
            out.flush()


@dataclass
class Ack:
    raws: list[str]
    indexes: list[int]
    ids: list[str]
    head: dict[str, Any]


def read_stream(path: Path) -> tuple[list[Ack], dict[str, Any] | None, list[str]]:
    """The acknowledged appends, the send in flight at the kill (if any), any refusals."""
    acks: list[Ack] = []
    pending: dict[str, Any] | None = None
    refused: list[str] = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # cannot happen (the client is never killed), but never trust a torn line
        if "pending" in entry:
            pending = entry["pending"]
        elif "ack" in entry:
            answer = entry["ack"]
            indexes = answer["indexes"] if "indexes" in answer else [answer["index"]]
            ids = answer["ids"] if "ids" in answer else [answer["id"]]
            acks.append(Ack(entry["raws"], indexes, ids, answer["tree_head"]))
            pending = None
        else:
            refused.append(f"{entry['refused']}: {entry['text']}")
    return acks, pending, refused


# --- the checks after each restart ------------------------------------------------------------


@dataclass
class Survivor:
    kind: str
    db: str
    home: Path
    node: Node
    acks: list[Ack] = field(default_factory=list)
    heads: dict[int, dict[str, Any]] = field(default_factory=dict)  # size → head as served
    trials: int = 0
    survived: int = 0

    def restart(self, workers: int = 1) -> None:
        self.node = Node(self.home, self.db, workers=workers)

    def kill(self) -> None:
        os.killpg(self.node.proc.pid, signal.SIGKILL)
        self.node.proc.wait(timeout=30)


def log_key(home: Path) -> nacl.signing.VerifyKey:
    seed = bytes.fromhex((home / "log.key").read_text().strip())
    return nacl.signing.SigningKey(seed).verify_key


def check_nothing_lost(s: Survivor, rng: random.Random) -> None:
    engine = open_engine(s.db, create=False)
    try:
        ledger = Ledger(engine)
        size = ledger.size()
        stored = {r.index: r.raw for r in ledger.records_range(0, size)}
        for ack in s.acks:
            for raw, index, rid in zip(ack.raws, ack.indexes, ack.ids, strict=True):
                assert stored.get(index) == raw.encode(), f"acknowledged {rid} at {index} lost"
        report = audit(engine, verifier=Verifier(0), public_key=bytes(log_key(s.home)))
        assert report.ok, "\n".join(map(str, report.problems))
        assert report.size == size
        latest = ledger.latest_tree_head()
        assert latest.head.size == size
        sizes = sorted(s.heads)
        checked = sizes if len(sizes) <= HEADS_CHECKED_PER_RESTART else sorted(
            {*sizes[-HEADS_CHECKED_PER_RESTART // 2:],
             *rng.sample(sizes, HEADS_CHECKED_PER_RESTART // 2)})
        vk = log_key(s.home)
        with httpx.Client(base_url=s.node.url, timeout=30) as http:
            for old in checked:
                served = s.heads[old]
                head = parse_checkpoint(served["checkpoint"].encode(), vk, ledger.origin)
                assert head.size == old and base64.b64encode(head.root).decode() == served["root"]
                assert ledger.tree_head(old).head.root == head.root, f"head {old} rewritten"
                if old == 0 or old == size:
                    assert old == 0 or head.root == latest.head.root
                    continue
                r = http.get("/v1/log/proofs/consistency",
                             params={"old_size": old, "new_size": size})
                assert r.status_code == 200, r.text
                merkle.verify_consistency(old, size, [b64url_decode(h) for h in r.json()["hashes"]],
                                          head.root, latest.head.root)
    finally:
        engine.dispose()


def one_trial(s: Survivor, rng: random.Random, work: Path) -> None:
    out = work / f"stream-{s.trials}.jsonl"
    ctx = multiprocessing.get_context("fork")
    client = ctx.Process(target=client_stream, args=(s.node.url, str(out), rng.getrandbits(32)))
    client.start()
    time.sleep(rng.uniform(*KILL_AFTER_S))
    s.kill()
    client.join(timeout=60)
    assert client.exitcode == 0, f"the client process failed ({client.exitcode})"
    acks, pending, refused = read_stream(out)
    assert not refused, refused  # before the kill, every append was accepted
    s.acks += acks
    for ack in acks:
        s.heads[ack.head["size"]] = ack.head
    s.trials += 1
    s.restart(workers=2 if s.kind == "postgres" and s.trials % 3 == 0 else 1)
    if pending is not None:  # the send in flight: stored whole or not at all, so resendable
        with httpx.Client(base_url=s.node.url, timeout=30) as http:
            r = http.post(pending["path"], json=pending["payload"])
        assert r.status_code == 201, r.text
        answer = r.json()
        raws = [pending["payload"]["record"]] if "record" in pending["payload"] else \
            pending["payload"]["records"]
        s.acks.append(Ack(raws, answer.get("indexes", [answer.get("index")]),
                          answer.get("ids", [answer.get("id")]), answer["tree_head"]))
        s.heads[answer["tree_head"]["size"]] = answer["tree_head"]
    check_nothing_lost(s, rng)
    s.survived += 1
