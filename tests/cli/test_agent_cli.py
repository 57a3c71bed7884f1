"""``passport agent`` through the real binary, against a real node: commands use a running
agent without a passphrase, and unlock themselves again once it is stopped or its time is
up; ``passport sync`` fetches only the records new since the last command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Node
from wallet import agent

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "agent cli passphrase"
WAIT_S = 60.0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("agent-cli")
    started = Node(tmp / "node", str(tmp / "node.sqlite"))
    yield started
    started.stop()


def passport(*args: str, node: Node, secret: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    """The CLI, with the passphrase in its environment only when ``secret`` is given."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_KDF": "interactive",
           "PASSPORT_NODE": node.url}
    for name in ("PASSPORT_PASSPHRASE", "PASSPORT_HOME", "PASSPORT_DEBUG"):
        env.pop(name, None)
    if secret is not None:
        env["PASSPORT_PASSPHRASE"] = secret
    return subprocess.run([sys.executable, "-c", "from cli.main import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused_for_no_passphrase(result: subprocess.CompletedProcess[str]) -> None:
    """The command went to unlock the key store itself, and had no passphrase to do it."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == ("passport: error: no passphrase: set PASSPORT_PASSPHRASE "
                                     "or run in a terminal"), result.stderr


def wait_gone(home: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while agent.socket_path(home).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not agent.socket_path(home).exists(), "the agent did not end"


@pytest.fixture
def home(node: Node, tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "alice"
    ok(passport("init", "--name", "Alice", "--home", str(where), node=node, secret=PASSPHRASE))
    yield where
    passport("agent", "stop", "--home", str(where), node=node)


def test_commands_use_the_agent_then_unlock_themselves_once_it_is_stopped(
        node: Node, home: Path) -> None:
    h = str(home)
    refused_for_no_passphrase(passport("set", "city", "Utrecht", "--home", h, node=node))
    started = json.loads(ok(passport("agent", "start", "--ttl", "10m", "--home", h,
                                     "--json", node=node, secret=PASSPHRASE)))
    status = json.loads(ok(passport("agent", "status", "--home", h, "--json", node=node)))
    assert status["running"] and status["pid"] == started["pid"]
    ok(passport("set", "city", "Utrecht", "--home", h, node=node))  # no passphrase: the agent
    shown = json.loads(ok(passport("show", "--home", h, "--json", node=node)))
    assert shown["fields"]["city"]["value"] == "Utrecht"
    # A command that saves a new key asks for the passphrase even with the agent running.
    refused_for_no_passphrase(passport("rotate-key", "--home", h, node=node))
    ok(passport("agent", "stop", "--home", h, node=node))
    wait_gone(home)
    assert not json.loads(ok(passport("agent", "status", "--home", h, "--json",
                                      node=node)))["running"]
    refused_for_no_passphrase(passport("get", "city", "--home", h, node=node))
    assert ok(passport("get", "city", "--home", h, node=node,
                       secret=PASSPHRASE)).strip() == "Utrecht"


def test_an_expired_agent_leaves_commands_to_unlock_themselves(node: Node,
                                                              home: Path) -> None:
    h = str(home)
    ok(passport("agent", "start", "--ttl", "1s", "--home", h, node=node, secret=PASSPHRASE))
    wait_gone(home)
    refused_for_no_passphrase(passport("show", "--home", h, node=node))
    ok(passport("show", "--home", h, node=node, secret=PASSPHRASE))


def test_a_wrong_ttl_is_one_line(node: Node, home: Path) -> None:
    done = passport("agent", "start", "--ttl", "forever", "--home", str(home), node=node,
                    secret=PASSPHRASE)
    assert done.returncode == 1 and done.stderr.startswith("passport: error: --ttl 'forever'")
    assert not agent.socket_path(home).exists()


def test_sync_fetches_only_what_is_new(node: Node, home: Path) -> None:
    h = str(home)
    for value in ("a", "b", "c"):
        ok(passport("set", "activity", value, "--home", h, node=node, secret=PASSPHRASE))
    synced = json.loads(ok(passport("sync", "--home", h, "--json", node=node,
                                    secret=PASSPHRASE)))
    assert synced["fetched"] == 1 and synced["seq"] == 5  # genesis, name, then three sets
    full = json.loads(ok(passport("sync", "--full", "--home", h, "--json", node=node,
                                  secret=PASSPHRASE)))
    assert full["fetched"] == 5 and full["fields"] == synced["fields"]
