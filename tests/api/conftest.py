"""A real node for HTTP tests: `passport node serve` in its own process, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from passport_api.client import NodeClient
from tests.conftest import fresh_db

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 15) -> None:
    """Ask a server we started to stop; kill it if it has not within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    def __init__(self, home: Path, db: str, workers: int = 1, args: Sequence[str] = (),
                 port: int | None = None, env: Mapping[str, str] | None = None) -> None:
        """``args`` are more ``serve`` options; ``env`` more environment (e.g. anchoring)."""
        self.port = port or free_port()
        self.db, self.args, self.workers = db, tuple(args), workers
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_VERIFY_WORKERS": "0",
               **(env or {})}
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.log = home / "node.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from cli.main import main; main()", "node", "serve",
                 "--port", str(self.port), "--db", db, "--home", str(home),
                 "--workers", str(workers), *args],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the node exited: " + self.log.read_text())
            if NodeClient(self.url, timeout=1).is_ready():
                return
            time.sleep(0.1)
        raise RuntimeError("the node did not become ready: " + self.log.read_text())

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Node]:
    """One node per test module and database; tests use members of their own."""
    tmp = tmp_path_factory.mktemp("node")
    started = Node(tmp / "home", fresh_db(request.param, request, tmp))
    yield started
    started.stop()


@pytest.fixture
def http(node: Node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        yield client
