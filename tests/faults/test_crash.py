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

The client process, the survivor and the checks after each restart are in ``crash_harness.py``;
the tests stay in this one module because they share its two survivor nodes.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ledger.encoding import b64url_encode
from ledger.parallel import Verifier
from ledger.store.audit import audit
from ledger.store.db import normalise_url, open_engine
from ledger.store.ledger import Ledger
from passport_api.signing import sign_request
from tests.api.conftest import Node
from tests.conftest import empty_pg
from tests.faults.crash_harness import Survivor, one_trial
from tests.store.support import member, set_update

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRIALS = {"sqlite": 2, "postgres": 2}
SLOW_TRIALS = {"sqlite": 30, "postgres": 30}
TMPFS_BYTES = 48 * 1024 * 1024
BIG_VALUE_CHARS = 200_000  # a sealed blob of about 200 kB: a few of them fill what is left
NOBODY = 65534
SEED = int(os.environ.get("PASSPORT_FAULT_SEED", "20261123"))


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
