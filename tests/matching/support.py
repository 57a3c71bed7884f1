"""The matcher's end-to-end harness: a real node, matcher processes (`passport match serve`),
wallets, and the real `passport` CLI as a member runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from matching.client import MatcherClient
from tests import clizygote
from tests.api.conftest import Node, free_port
from wallet import keystore
from wallet.wallet import Wallet

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_PASSPHRASE": PASSPHRASE,
       "PASSPORT_KDF": "interactive", "COLUMNS": "200"}


def wallet(home: Path, node: Node, role: str = "member", name: str = "") -> Wallet:
    keystore.save(keystore.create(role), home, PASSPHRASE, profile="interactive")
    w = Wallet(home, keystore.load(home, PASSPHRASE), PASSPHRASE, node.url)
    w.sync()
    if name:
        w.set("name", name)
    return w


class Service:
    def __init__(self, home: Path, node: Node) -> None:
        self.wallet = wallet(home, node, "service", home.name)
        self.home, self.node = home, node
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> Service:
        """(Again) a `passport match serve` process on the same home, port and state file."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", "match", "serve",
             "--home", str(self.home), "--node", self.node.url, "--port", str(self.port),
             "--poll-ms", "200"], env=ENV, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        return self

    def wait(self) -> Service:
        """Ready to answer (started processes load in parallel; we wait for each in turn)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the matcher did not start")

    @property
    def did(self) -> str:
        return self.wallet.did

    def as_(self, w: Wallet) -> MatcherClient:
        return MatcherClient(self.url, w.author.signing_key, w.did)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        self.proc.kill()
        self.proc.wait(timeout=15)


def cli(home: Path, node: Node, *args: str) -> Any:
    result = clizygote.run([*args, "--home", str(home), "--node", node.url, "--json"], ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def eventually(probe: Callable[[], Any], seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = probe()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def start_cli(home: Path, node: Node, *args: str) -> clizygote.Forked:
    return clizygote.start([*args, "--home", str(home), "--node", node.url, "--json"], ENV)


def done(proc: clizygote.Forked) -> Any:
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return json.loads(stdout)


def cli_all(*calls: tuple[Path, Node, tuple[str, ...]]) -> list[Any]:
    """Several CLI commands side by side (each start-up costs a second or two)."""
    return [done(p) for p in [start_cli(home, node, *args) for home, node, args in calls]]


def cli_fails(home: Path, node: Node, *args: str) -> str:
    """The one error line a refused command prints (exit 1, no traceback)."""
    result = clizygote.run([*args, "--home", str(home), "--node", node.url], ENV)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("passport: error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def cli_text(home: Path, node: Node, *args: str) -> str:
    """What a person reads: the command's output without --json."""
    result = clizygote.run([*args, "--home", str(home), "--node", node.url], ENV)
    assert result.returncode == 0, result.stderr
    return result.stdout
