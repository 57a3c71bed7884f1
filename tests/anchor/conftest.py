"""Fixtures for anchoring: a real anvil (npm @foundry-rs/anvil) on a free loopback port, the
in-process EVM, and ledgers with a few records on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nacl.signing
import pytest

from contracts.chain import Chain
from ledger.store.ledger import Ledger
from tests.api.conftest import free_port, stop_process
from tests.store.support import members_batch

ROOT = Path(__file__).resolve().parents[2]
ANVIL_BIN = ROOT / "node_modules" / ".bin" / "anvil"
START_TIMEOUT_S = 30


class Anvil:
    """A real anvil process; ``restart()`` brings up a fresh chain on the same port."""

    def __init__(self, log: Path) -> None:
        if not ANVIL_BIN.exists():
            pytest.fail(f"{ANVIL_BIN} is missing: run `make install` (npm ci)", pytrace=False)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(ANVIL_BIN), "--host", "127.0.0.1", "--port", str(self.port),
                 "--chain-id", "31337", "--silent"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1,
                                           "method": "eth_chainId", "params": []}, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("anvil did not start: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout_s=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    node = Anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    yield node
    node.stop()


@pytest.fixture
def anvil_chain(anvil: Anvil) -> Chain:
    return Chain.connect(anvil.url)


@pytest.fixture
def inprocess_chain() -> Chain:
    return Chain.connect(None)


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    opened = Ledger.open(db_url, log_key=nacl.signing.SigningKey.generate(), verify_workers=0)
    yield opened
    opened.close()


def add_records(ledger: Ledger, n: int) -> list[str]:
    raws, blobs = members_batch(n)
    return ledger.append_batch(raws, blobs).ids

