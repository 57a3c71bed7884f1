"""`passport ledger ...` as a person runs it: real processes, one clear line on failure."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ledger.records import parse_record
from tests import clizygote
from tests.conftest import empty_pg


def passport(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(Path(__file__).parent.parent)}
    return clizygote.run(args, env, cwd=None if cwd is None else str(cwd), timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("passport: error: "), result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    result = passport("ledger", "demo", "--db", str(home / "ledger.sqlite"), "--home", str(home))
    assert result.returncode == 0, result.stderr
    assert "ok full audit: 204 records" in result.stdout
    assert "refused a record signed by the wrong key" in result.stdout
    return home / "ledger.sqlite"


def test_verify_passes_a_clean_ledger(demo_db: Path) -> None:
    result = passport("ledger", "verify", "--db", str(demo_db))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 204 records, 201 chains")


def test_verify_names_the_tampered_record(demo_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.sqlite"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        (raw,) = conn.execute("SELECT raw FROM records WHERE idx = 7").fetchone()
        conn.execute("UPDATE records SET raw = ? WHERE idx = 7",
                     (raw.replace(b"passport.set", b"passport.sat"),))
    rid = parse_record(raw).id
    result = passport("ledger", "verify", "--db", str(copy))
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "[record-id] index 7: stored bytes hash to" in result.stdout
    as_json = json.loads(passport("ledger", "verify", "--db", str(copy), "--json").stdout)
    assert as_json["ok"] is False
    assert {(p["check"], p["index"]) for p in as_json["problems"]} >= {
        ("record-id", 7), ("record", 7), ("merkle", 7)}
    assert rid not in {p["record_id"] for p in as_json["problems"]}  # it names the new bytes


def test_verify_with_the_wrong_pinned_key_fails(demo_db: Path) -> None:
    result = passport("ledger", "verify", "--db", str(demo_db), "--log-key", "11" * 32)
    assert result.returncode == 1
    assert "[log-key]" in result.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["--db", "no/such/ledger.sqlite"], "no ledger database at no/such/ledger.sqlite"),
    (["--db", "x.sqlite", "--log-key", "zz"], "--log-key takes the log's public key"),
    (["--db", "postgresql://postgres@127.0.0.1:1/none"], "cannot open the ledger database"),
])
def test_bad_input_is_one_clear_line(args: list[str], words: str, tmp_path: Path) -> None:
    (tmp_path / "x.sqlite").touch()
    assert_one_line_error(passport("ledger", "verify", *args, cwd=tmp_path), words)


def test_a_file_that_is_not_a_ledger_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "x.sqlite").write_bytes(b"not a database at all" * 100)
    assert_one_line_error(passport("ledger", "verify", "--db", "x.sqlite", cwd=tmp_path),
                          "x.sqlite")


@pytest.mark.postgres
def test_demo_and_verify_on_postgres(pg_database: str, tmp_path: Path) -> None:
    empty_pg(pg_database)
    result = passport("ledger", "demo", "--db", pg_database, "--home", str(tmp_path))
    assert result.returncode == 0, result.stderr
    result = passport("ledger", "verify", "--db", pg_database)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 204 records")
