"""The wallet agent's ending (wallet.agent_server): it leaves a newer agent's socket alone and
answers ``stop`` before its process ends.  In process, on real Unix sockets."""

from __future__ import annotations

import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from wallet import agent_server, keystore
from wallet.keystore import Keystore

WAIT_S = 60.0


@pytest.fixture
def store() -> Keystore:
    return keystore.create("member")


def _bound(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(4)
    return sock


def test_an_ending_agent_leaves_a_newer_agents_socket_alone(tmp_path: Path,
                                                            store: Keystore) -> None:
    """`agent stop` then `agent start` at once: the old agent, still ending, must not remove
    the socket the new one just bound at the same path (the new one would be unreachable)."""
    path = tmp_path / "s"
    old_sock = _bound(path)
    old = agent_server.Agent(store, 600, path)
    path.unlink()  # the old agent's stop removed it; the new agent binds the path again
    new_sock = _bound(path)
    old.end()
    assert stat.S_ISSOCK(path.stat().st_mode)
    new = agent_server.Agent(store, 600, path)
    new.end()  # its own socket: removed
    assert not path.exists()
    old_sock.close()
    new_sock.close()


def test_stop_is_answered_before_the_agent_returns(tmp_path: Path, store: Keystore,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's process ends when ``serve`` returns, so ``serve`` waits for the answer to
    ``stop`` to be written: the stopping command gets its answer, not a closed connection.
    The answer is held back here until the accept loop has surely seen the stop."""
    path = tmp_path / "s"
    sock = _bound(path)
    agent_ = agent_server.Agent(store, 600, path)
    answer = agent_server.Agent.answer

    def slow_stop(self: agent_server.Agent, request: object) -> dict[str, object]:
        out = answer(self, request)
        if isinstance(request, dict) and request.get("op") == "stop":
            time.sleep(1.5)  # the accept loop wakes each second and sees the stop meanwhile
        return out

    monkeypatch.setattr(agent_server.Agent, "answer", slow_stop)
    server = threading.Thread(target=agent_server.serve, args=(sock, agent_), daemon=True)
    server.start()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(path))
    conn.sendall(b'{"op": "stop"}\n')
    server.join(timeout=WAIT_S)
    assert not server.is_alive()
    conn.setblocking(False)  # serve has returned: the answer must already be here
    assert conn.recv(100) == b"{}\n"
    conn.close()
