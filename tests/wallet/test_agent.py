"""The wallet agent (wallet.agent, wallet.agent_server): every claim docs/security.md makes
about it, on a real forked agent and its real Unix socket.

Waiting for an agent to end polls its socket (no timed assertion): the claim is that it
ends, not how fast.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from ledger import keys, seal
from ledger.chain import Author
from ledger.encoding import b64url_encode
from ledger.errors import SealError
from ledger.records import parse_record, signer_of
from wallet import agent, agent_server, keystore
from wallet.agent import AgentError, AgentKey, AgentKeystore
from wallet.keystore import Keystore

PASS = "agent test passphrase"
NOBODY = 65534
WAIT_S = 60.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    where = tmp_path / "w"
    keystore.save(keystore.create("member"), where, PASS, profile="interactive")
    return where


@pytest.fixture
def store(home: Path) -> Keystore:
    return keystore.load(home, PASS)


@pytest.fixture
def running(home: Path, store: Keystore) -> Iterator[int]:
    pid = agent_server.start(home, store, 600)
    yield pid
    agent_server.stop(home)
    wait_gone(home)


def wait_gone(home: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while agent.socket_path(home).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not agent.socket_path(home).exists(), "the agent did not end"


def held(home: Path, store: Keystore) -> AgentKeystore:
    found = agent.keystore_from(home, store.did)
    assert found is not None
    return found


def test_the_socket_is_0600_in_a_0700_directory_and_answers_its_owner(
        home: Path, store: Keystore, running: int) -> None:
    path = agent.socket_path(home)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    status = agent_server.status(home)
    assert status is not None and status["did"] == store.did and status["pid"] == running
    assert 0 < status["expires_in_s"] <= 600


def test_records_signed_through_the_agent_verify_under_the_member_key(
        home: Path, store: Keystore, running: int) -> None:
    keys_there = held(home, store)
    assert [bytes(k.verify_key) for k in keys_there.signing_keys] == [
        bytes(k.verify_key) for k in store.signing_keys]
    record = Author(keys_there.signing_keys[0], did=store.did).next(
        "passport.clear", {"field": "city"})
    again = parse_record(record.raw)
    assert signer_of(again, [keys.public_key_from_did(store.did)]) is not None


def test_the_agent_opens_a_value_sealed_to_the_member_and_no_other(
        home: Path, store: Keystore, running: int) -> None:
    key = held(home, store).signing_keys[0]
    sealed = seal.seal("Utrecht", author=store.did, field="city", seq=3,
                       recipients=[store.did])
    assert agent.unwrap(sealed.recipients[store.did], key) == sealed.content_key
    stranger = seal.seal("x", author=store.did, field="city", seq=3,
                         recipients=[keys.did_of(keys.generate())])
    with pytest.raises(SealError):
        agent.unwrap(next(iter(stranger.recipients.values())), key)


def test_no_private_part_ever_crosses_the_socket(home: Path, store: Keystore,
                                                 running: int) -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(agent.socket_path(home)))
    reader = conn.makefile("rb")
    wire = bytearray()

    def call(**request: object) -> dict[str, object]:
        line = json.dumps(request).encode() + b"\n"
        conn.sendall(line)
        answer = reader.readline()
        wire.extend(line + answer)
        out: dict[str, object] = json.loads(answer)
        return out

    publics = call(op="keys")["keys"]
    assert isinstance(publics, list)
    wrapped = seal.seal("v", author=store.did, field="city", seq=2, recipients=[store.did])
    for public in publics:
        assert "signature" in call(op="sign", key=public,
                                   message=base64.b64encode(b"anything").decode())
    assert "content_key" in call(op="unwrap", key=publics[0],
                                 wrapped=wrapped.recipients[store.did])
    call(op="status")
    call(op="unwrap", key=publics[-1], wrapped="not a wrapped key")
    conn.close()
    for key in store.signing_keys:
        for secret in (bytes(key), bytes(key.to_curve25519_private_key())):
            for form in (secret, secret.hex().encode(), base64.b64encode(secret)[:40],
                         b64url_encode(secret)[:40].encode()):
                assert form not in wire


def test_a_key_held_by_the_agent_refuses_to_give_its_private_parts(
        home: Path, store: Keystore, running: int) -> None:
    key = held(home, store).signing_keys[0]
    assert isinstance(key, AgentKey)
    with pytest.raises(AgentError):
        bytes(key)
    with pytest.raises(AgentError):
        key.to_curve25519_private_key()
    with pytest.raises(AgentError):  # and no new seed can be made without the passphrase
        held(home, store).add()


def test_stop_ends_it_and_then_nothing_answers(home: Path, store: Keystore) -> None:
    pid = agent_server.start(home, store, 600)
    keys_there = held(home, store)
    assert agent_server.stop(home) == pid
    wait_gone(home)
    assert agent.keystore_from(home, store.did) is None  # a command unlocks itself again
    assert agent_server.status(home) is None
    with pytest.raises(AgentError):  # a connection opened before the stop is answered no more
        keys_there.signing_keys[0].sign(b"late")
    assert agent_server.stop(home) is None


def test_when_its_time_runs_out_it_ends_by_itself(home: Path, store: Keystore) -> None:
    agent_server.start(home, store, 1)
    wait_gone(home)
    assert agent.keystore_from(home, store.did) is None


def test_one_agent_per_wallet_and_a_stale_socket_is_replaced(home: Path, store: Keystore,
                                                              running: int) -> None:
    with pytest.raises(AgentError, match="already runs"):
        agent_server.start(home, store, 600)
    agent_server.stop(home)
    wait_gone(home)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # bound, never listening
    stale.bind(str(agent.socket_path(home)))
    stale.close()
    assert agent.keystore_from(home, store.did) is None  # a dead socket: as if none ran
    agent_server.start(home, store, 600)
    assert agent_server.status(home) is not None


def test_the_time_is_bounded(home: Path, store: Keystore) -> None:
    for ttl in (0, -1, agent_server.MAX_TTL_S + 1):
        with pytest.raises(AgentError):
            agent_server.start(home, store, ttl)
    assert not agent.socket_path(home).exists()


def test_nothing_a_client_sends_kills_it(home: Path, store: Keystore, running: int) -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(agent.socket_path(home)))
    reader = conn.makefile("rb")
    for line in (b"not json\n", b"[1, 2]\n", b'{"op": "nope"}\n', b'{"op": "sign"}\n',
                 b'{"op": "sign", "key": "00", "message": "AA=="}\n',
                 b'{"op": "unwrap", "key": "zz", "wrapped": 5}\n', b"\xff\xfe\n"):
        conn.sendall(line)
        answer = json.loads(reader.readline())
        assert "error" in answer, (line, answer)
    conn.close()
    status = agent_server.status(home)
    assert status is not None and status["pid"] == running


def test_a_wallet_with_another_did_does_not_use_it(home: Path, store: Keystore,
                                                   running: int) -> None:
    with pytest.raises(AgentError, match="holds"):
        agent.keystore_from(home, keys.did_of(keys.generate()))


def _as_nobody(action: str, path: Path) -> str:
    """Run ``action`` on the socket at ``path`` in a child running as uid nobody."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        result = "?"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(20)
            conn.connect(str(path))
            conn.sendall(b'{"op": "' + action.encode() + b'"}\n')
            result = "answered" if conn.makefile("rb").readline() else "closed"
        except PermissionError:
            result = "denied"
        except (ConnectionResetError, BrokenPipeError):  # closed before it read a byte
            result = "closed"
        except OSError as e:
            result = type(e).__name__
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as r:
        return r.read().decode()


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another uid needs root")
def test_another_user_can_neither_reach_the_socket_nor_be_answered(
        home: Path, store: Keystore, running: int) -> None:
    # The wallet's own socket: the 0700 directory and the 0600 socket keep others out.
    assert _as_nobody("status", agent.socket_path(home)) == "denied"
    # And were the socket open to all, the agent would close it unanswered (SO_PEERCRED).
    # (A directory of its own right under /tmp: pytest's are closed to other users.)
    open_dir = Path(tempfile.mkdtemp(prefix="agent-open-"))
    os.chmod(open_dir, 0o777)
    path = open_dir / "s"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o777)
    sock.listen(4)
    exposed = agent_server.Agent(store, 600, path)
    server = threading.Thread(target=agent_server.serve, args=(sock, exposed), daemon=True)
    server.start()
    try:
        assert _as_nobody("status", path) == "closed"
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # its owner is answered
        conn.connect(str(path))
        conn.sendall(b'{"op": "status"}\n')
        assert json.loads(conn.makefile("rb").readline())["did"] == store.did
        conn.close()
    finally:
        exposed.end()
        server.join(timeout=WAIT_S)
        shutil.rmtree(open_dir, ignore_errors=True)


def test_a_key_the_agent_does_not_hold_signs_nothing(home: Path, store: Keystore,
                                                     running: int) -> None:
    keys_there = held(home, store)
    key = keys_there.signing_keys[0]
    assert isinstance(key, AgentKey)
    other = nacl.signing.SigningKey.generate()
    impostor = AgentKey(key._agent, bytes(other.verify_key))
    with pytest.raises(AgentError, match="no such key"):
        impostor.sign(b"x")


def _fake_agent(home: Path, answers: dict[str, dict[str, object]]) -> threading.Thread:
    """A process of this user pretending to be the agent at ``home``: canned answers."""
    folder = agent.socket_path(home).parent
    folder.mkdir(mode=0o700, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(agent.socket_path(home)))
    sock.listen(1)

    def serve() -> None:
        conn, _ = sock.accept()
        with conn, conn.makefile("rb") as reader:
            for line in reader:
                conn.sendall(json.dumps(answers[json.loads(line)["op"]]).encode() + b"\n")
        sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_signature_that_does_not_verify_is_refused(home: Path, store: Keystore) -> None:
    """The client checks every signature it gets back against the key it asked for."""
    publics = [bytes(k.verify_key).hex() for k in store.signing_keys]
    forged = base64.b64encode(keys.generate().sign(b"x").signature).decode()
    thread = _fake_agent(home, {
        "keys": {"did": store.did, "role": "member", "device": False, "keys": publics},
        "sign": {"signature": forged}})
    key = held(home, store).signing_keys[0]
    with pytest.raises(AgentError, match="does not verify"):
        key.sign(b"a record")
    key._agent.close()  # type: ignore[attr-defined]
    thread.join(timeout=WAIT_S)


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another uid needs root")
def test_an_agent_socket_served_by_another_user_is_not_used(store: Keystore) -> None:
    open_home = Path(tempfile.mkdtemp(prefix="agent-home-"))
    try:
        os.chmod(open_home, 0o777)
        (open_home / agent.DIR).mkdir(mode=0o777)
        os.chmod(open_home / agent.DIR, 0o777)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child, as nobody: binds the socket and waits for one connection
            os.close(read)
            try:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.bind(str(agent.socket_path(open_home)))
                os.chmod(agent.socket_path(open_home), 0o777)
                sock.listen(1)
                os.write(write, b"ready")
                sock.settimeout(20)
                sock.accept()[0].close()
            finally:
                os._exit(0)
        os.close(write)
        assert os.read(read, 5) == b"ready"
        os.close(read)
        with pytest.raises(AgentError, match="another user"):
            agent.keystore_from(open_home, store.did)
        os.waitpid(pid, 0)
    finally:
        shutil.rmtree(open_home, ignore_errors=True)


def test_the_agent_writes_nothing_but_its_socket(home: Path, store: Keystore) -> None:
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    agent_server.start(home, store, 600)
    during = sorted(p.relative_to(home) for p in home.rglob("*"))
    agent_server.stop(home)
    wait_gone(home)
    assert sorted(set(during) - set(before)) == [Path(agent.DIR), Path(agent.DIR, agent.SOCKET)]
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == sorted(
        [*before, Path(agent.DIR)])

