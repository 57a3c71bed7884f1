"""The node's files are its user's only, and a trailing slash is a problem, not a redirect
(issue 17): a real node process on SQLite, started in a home and a database directory that do
not exist yet, under a permissive umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.encoding import b64url_encode
from passport_api.app import create_private_sqlite, sqlite_path
from tests.api.conftest import Node
from tests.store.support import set_update


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Path]]:
    tmp = tmp_path_factory.mktemp("files")
    db = tmp / "data" / "deeper" / "node.sqlite"
    old = os.umask(0o022)  # the usual umask: without the fix, files came out 0644
    try:
        started = Node(tmp / "home", str(db))
    finally:
        os.umask(old)
    yield started, db
    started.stop()


def test_the_database_files_and_directories_are_private(node: tuple[Node, Path]) -> None:
    started, db = node
    raw, blobs = set_update(Author(keys.generate()), "today", "private")
    r = httpx.post(started.url + "/v1/records", timeout=30, json={
        "record": raw.decode(), "blobs": {k: b64url_encode(v) for k, v in blobs.items()}})
    assert r.status_code == 201, r.text  # the WAL now exists
    files = [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm"))]
    assert all(f.exists() for f in files)
    for f in [*files, started.home / "log.key"]:
        assert mode(f) == 0o600, f"{f.name}: {oct(mode(f))}"
    for d in (db.parent, db.parent.parent):  # (the test harness made the home itself)
        assert mode(d) == 0o700, f"{d}: {oct(mode(d))}"


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    existing = tmp_path / "ro.sqlite"
    existing.write_bytes(b"")
    existing.chmod(0o400)
    create_private_sqlite(str(existing))
    assert mode(existing) == 0o400
    assert sqlite_path("postgresql+psycopg://x@h/db") is None
    assert sqlite_path("sqlite:///" + str(existing) + "?mode=ro") == existing


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/reads/"), ("POST", "/v1/records/"), ("GET", "/v1/health/"),
    ("GET", "/v1/log/head/")])
def test_a_trailing_slash_is_a_problem_not_a_redirect(node: tuple[Node, Path], method: str,
                                                      path: str) -> None:
    r = httpx.request(method, node[0].url + path, content=b"{}", timeout=30,
                      headers={"content-type": "application/json"}, follow_redirects=False)
    assert r.status_code == 404, (r.status_code, r.headers)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/v1/problems/not-found-route"
    assert path.rstrip("/") in r.json()["detail"] and "trailing slash" in r.json()["detail"]


def test_the_explorer_still_answers_with_a_slash(node: tuple[Node, Path]) -> None:
    r = httpx.get(node[0].url + "/explorer/", timeout=30, follow_redirects=True)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
