"""Crash safety: kill -9 the node at random points under a stream of appends, many times over.

A client in its own process appends records (singles and small batches, sealed blobs included)
as fast as the node takes them and writes down every 201 answer.  The test kills the node's
whole process group with SIGKILL after a random delay, restarts it on the same database and
checks, after every restart:

- every acknowledged record is stored, byte for byte, at the index the node answered;
- the record the client had in flight when the node died can be resent (201: stored once);
- the full audit passes (signatures, chains, every Merkle node, every tree head, every blob);
- every tree head served before the crash is still the signed head at its size, and the
  current head is consistent with it (a consistency proof served by the restarted node,
  verified here).

Default run: a few trials per database; ``make test-faults`` runs the slow-marked long run.
Then, on the survivor: a full disk (SQLite on a small tmpfs) and a read-only database
(PostgreSQL with ``default_transaction_read_only``; SQLite read-only at start-up) must answer a
clear error, store nothing half-written and keep the log as it was.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nacl.signing
import pytest
import sqlalchemy as sa

from ledger import merkle
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import b64url_decode, b64url_encode
from ledger.parallel import Verifier
from ledger.store.audit import audit
from ledger.store.db import normalise_url, open_engine
from ledger.store.ledger import Ledger
from passport_api.signing import sign_request
from tests.api.conftest import Node
from tests.conftest import empty_pg
from tests.store.support import member, set_update

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRIALS = {"sqlite": 2, "postgres": 2}
SLOW_TRIALS = {"sqlite": 30, "postgres": 30}
KILL_AFTER_S = (0.2, 2.0)  # the random delay between the client's start and the kill
CLIENT_MEMBERS = 4
BATCH_SHARE = 0.3
HEADS_CHECKED_PER_RESTART = 60
TMPFS_BYTES = 48 * 1024 * 1024
BIG_VALUE_CHARS = 200_000  # a sealed blob of about 200 kB: a few of them fill what is left
NOBODY = 65534
SEED = int(os.environ.get("PASSPORT_FAULT_SEED", "20261123"))


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


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tmpfs() -> Iterator[Path | None]:
    """A small tmpfs of our own (we are root in the sandbox); None where mounting is refused."""
    where = Path(tempfile.mkdtemp(prefix="passport-tmpfs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs",
                              str(where)], capture_output=True, check=False).returncode == 0
    yield where if mounted else None
    if mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def sqlite_survivor(tmp_path_factory: pytest.TempPathFactory, tmpfs: Path | None
                    ) -> Iterator[Survivor]:
    """A node on SQLite (on the tmpfs, so the full-disk test can fill it), killed and
    restarted by the tests of this module in turn."""
    tmp = tmp_path_factory.mktemp("crash-sqlite")
    db = str((tmpfs or tmp) / "crash.sqlite")
    s = Survivor("sqlite", db, tmp / "home", Node(tmp / "home", db))
    yield s
    s.node.stop()


@pytest.fixture(scope="module")
def pg_survivor(tmp_path_factory: pytest.TempPathFactory, pg_database: str
                ) -> Iterator[Survivor]:
    tmp = tmp_path_factory.mktemp("crash-postgres")
    empty_pg(pg_database)
    s = Survivor("postgres", pg_database, tmp / "home", Node(tmp / "home", pg_database))
    yield s
    s.node.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def survivor(request: pytest.FixtureRequest) -> Survivor:
    found: Survivor = request.getfixturevalue(
        "pg_survivor" if request.param == "postgres" else "sqlite_survivor")
    return found


def run_trials(s: Survivor, trials: int, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-{s.kind}-{trials}")
    before = s.trials
    for _ in range(trials):
        one_trial(s, rng, tmp_path)
    assert s.survived - before == trials
    assert s.acks, "the client never got an append acknowledged: the kills came too early"
    print(f"\n{s.kind}: {s.survived} kill -9 trials survived, "
          f"{sum(len(a.ids) for a in s.acks)} acknowledged records, all present (seed {SEED})")


def test_kill9_loses_no_acknowledged_record(survivor: Survivor, tmp_path: Path) -> None:
    run_trials(survivor, DEFAULT_TRIALS[survivor.kind], tmp_path)


@pytest.mark.slow
def test_kill9_many_times(survivor: Survivor, tmp_path: Path) -> None:
    run_trials(survivor, SLOW_TRIALS[survivor.kind], tmp_path)


# --- a full disk and a read-only database -------------------------------------------------------


def append_big(node: Node, value_chars: int = BIG_VALUE_CHARS) -> httpx.Response:
    raw, blobs = set_update(member(), "today", "x" * value_chars)
    return httpx.post(node.url + "/v1/records", timeout=60, json={
        "record": raw.decode(), "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})


def size_of(node: Node) -> int:
    return int(httpx.get(node.url + "/v1/health", timeout=30).json()["size"])


def assert_store_error(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "/v1/problems/store-error"
    assert any(w in problem["detail"] for w in words), problem["detail"]


def assert_audit_ok(s: Survivor) -> int:
    engine = open_engine(s.db, create=False)
    try:
        report = audit(engine, verifier=Verifier(0))
    finally:
        engine.dispose()
    assert report.ok, "\n".join(map(str, report.problems))
    return report.size


def test_a_full_disk_refuses_cleanly_and_recovers(sqlite_survivor: Survivor,
                                                  tmpfs: Path | None) -> None:
    """SQLite only: the PostgreSQL server's disk is not ours to fill."""
    survivor = sqlite_survivor
    if tmpfs is None:
        pytest.skip("mounting a tmpfs was refused (not root?)")  # reason: needs mount rights
    node = survivor.node
    filler = tmpfs / "filler"
    free = shutil.disk_usage(tmpfs).free
    with filler.open("wb") as f:  # leave about 2 MB: a handful of big values fit, then no more
        f.write(b"\0" * max(0, free - 2 * 1024 * 1024))
    try:
        refused = None
        for _ in range(40):
            before = size_of(node)
            r = append_big(node)
            if r.status_code != 201:
                refused = r
                break
        assert refused is not None, "the disk never filled"
        assert_store_error(refused, "full")
        assert size_of(node) == before  # nothing half-written
        signed = sign_request(member().signing_key, "POST", "/v1/checkin/challenges", "", b"")
        r = httpx.post(node.url + "/v1/checkin/challenges", headers=signed, timeout=30)
        assert r.status_code in (201, 503), r.text  # a write that fits, or a store error
        assert assert_audit_ok(survivor) == before
    finally:
        filler.unlink()
    assert append_big(node).status_code == 201  # space again: the node carries on
    assert assert_audit_ok(survivor) == before + 1


@pytest.mark.postgres
def test_a_read_only_postgres_refuses_cleanly(pg_survivor: Survivor) -> None:
    """Regression: a read-only database answered 500 (psycopg's ReadOnlySqlTransaction is an
    ``InternalError``) for appends and for every signed call (the nonce insert)."""
    survivor = pg_survivor
    node, name = survivor.node, sa.make_url(survivor.db).database
    admin = sa.create_engine(survivor.db, isolation_level="AUTOCOMMIT")

    def read_only(on: bool) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only '
                                 f"= {'on' if on else 'off'}")
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")

    before = size_of(node)
    read_only(True)
    try:
        assert_store_error(append_big(node, 10), "read-only")
        signed = sign_request(member().signing_key, "POST", "/v1/checkin/challenges", "", b"")
        r = httpx.post(node.url + "/v1/checkin/challenges", headers=signed, timeout=30)
        assert_store_error(r, "read-only")
        assert size_of(node) == before  # reads still served
    finally:
        read_only(False)
        admin.dispose()
    assert assert_audit_ok(survivor) == before
    assert append_big(node, 10).status_code == 201


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's own tmp_path is private to root)."""
    where = Path(tempfile.mkdtemp(prefix="passport-ro-"))
    where.chmod(0o755)
    yield where
    for sub in where.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(where, ignore_errors=True)


def test_a_read_only_sqlite_file_is_refused_at_start(open_dir: Path) -> None:
    """Read-only for the node's user (root ignores file modes, so as root the node runs as
    nobody through setpriv; as anyone else, as that user)."""
    root = os.geteuid() == 0
    if root and shutil.which("setpriv") is None:
        pytest.skip("as root, needs setpriv to run the node as another user")  # reason: env
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_VERIFY_WORKERS": "0"}
    if root and subprocess.run([*as_nobody, sys.executable, "-c", "import cli.main"], env=env,
                               capture_output=True, timeout=120, check=False).returncode:
        # reason: env: the checkout sits where nobody cannot read it (e.g. under mktemp -d)
        pytest.skip("the user nobody cannot read this checkout to run the node")
    tmp_path = open_dir
    ro = tmp_path / "ro"
    ro.mkdir()
    db = ro / "node.sqlite"
    seed = member().signing_key
    Ledger.open(str(db), log_key=seed).close()
    before = db.read_bytes()
    db.chmod(0o444)
    ro.chmod(0o555)
    home = tmp_path / "home"
    home.mkdir()
    if root:
        os.chown(home, NOBODY, NOBODY)
    result = subprocess.run(
        [*(as_nobody if root else []), sys.executable, "-c",
         "from cli.main import main; main()", "node", "serve", "--db", str(db),
         "--home", str(home), "--port", "1"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and "readonly database" in lines[0], result.stderr
    assert lines[0].startswith("passport: error: cannot open the ledger database")
    assert db.read_bytes() == before
    engine = sa.create_engine(normalise_url(str(db)))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT size FROM log_state").scalar_one() == 0
    finally:
        engine.dispose()
