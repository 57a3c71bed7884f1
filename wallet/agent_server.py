"""The wallet agent itself: the unlocked keys in one process, for a time, behind a socket.

``passport agent start`` unlocks the key store once (Argon2id) and forks this server into
the background.  It listens on ``<home>/agent/agent.sock``: the directory is made 0700, the
socket bound under umask 0177 (so 0600 from its first instant) and chmod-ed 0600 again; each
connection's peer uid is read with SO_PEERCRED and anything not the member's own uid is
closed unanswered.  When the time the member set runs out, or on ``stop`` or SIGTERM, it
removes its socket and exits; nothing of the keys is ever written anywhere.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nacl.signing

from ledger import seal
from ledger.errors import PassportError, SealError
from wallet.agent import DIR, AgentError, connect, peer_uid, socket_path
from wallet.keystore import Keystore

MAX_TTL_S = 24 * 3600  # a day at most: an agent is for a working session, not for good
MAX_LINE = 1 << 20  # a request larger than this is not the protocol
CLOSING_S = 5.0  # at most this long for a connection to finish its last answer at the end


class Agent:
    """The keys and what may be asked of them; ``answer`` never returns a private part."""

    def __init__(self, store: Keystore, ttl_s: float, path: Path) -> None:
        self.did, self.role, self.device = store.did, store.role, store.device
        self.path = path
        # The socket this agent bound (made just before), by device and inode: ``end`` removes
        # the path only while it is still ours, never a newer agent's socket at the same path.
        self._socket_id = _identity(path)
        self._keys = {bytes(k.verify_key): k for k in store.signing_keys}
        self._order = [bytes(k.verify_key).hex() for k in store.signing_keys]
        self.deadline = time.monotonic() + ttl_s
        self.stopped = threading.Event()

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            return {"error": "bad-request", "detail": "a request is a JSON object"}
        if self.stopped.is_set():
            return {"error": "stopped", "detail": "the agent was stopped"}
        if self.remaining_s() <= 0:
            self.end()
            return {"error": "expired", "detail": "the agent's time ran out"}
        op = request.get("op")
        try:
            if op == "keys":
                return {"did": self.did, "role": self.role, "device": self.device,
                        "keys": self._order}
            if op == "sign":
                key = self._key(request)
                message = base64.b64decode(str(request["message"]), validate=True)
                return {"signature": base64.b64encode(key.sign(message).signature).decode()}
            if op == "unwrap":
                content_key = seal.unwrap_key(str(request["wrapped"]), self._key(request))
                return {"content_key": base64.b64encode(content_key).decode("ascii")}
            if op == "status":
                return {"did": self.did, "pid": os.getpid(),
                        "expires_in_s": round(self.remaining_s())}
            if op == "stop":
                self.end()
                return {}
        except SealError as e:
            return {"error": "not-sealed", "detail": str(e)}
        except (KeyError, TypeError, ValueError, PassportError) as e:
            return {"error": "bad-request", "detail": f"{type(e).__name__}: {e}"}
        return {"error": "bad-request", "detail": f"unknown op {op!r}"}

    def _key(self, request: dict[str, Any]) -> nacl.signing.SigningKey:
        key = self._keys.get(bytes.fromhex(str(request["key"])))
        if key is None:
            raise KeyError("no such key in this agent")
        return key

    def end(self) -> None:
        """Stop taking connections now: the socket goes first, so the next command finds no
        agent and unlocks the key store itself."""
        self.stopped.set()
        if self._socket_id is not None and _identity(self.path) == self._socket_id:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def forget(self) -> None:
        """Drop the keys (Python cannot promise the memory is overwritten; the process ends
        right after)."""
        self._keys.clear()


def listen(home: Path) -> socket.socket:
    """The agent's socket, bound 0600 in a 0700 directory; refuses if an agent runs."""
    running = connect(home)
    if running is not None:
        pid = running.call("status").get("pid")
        running.close()
        raise AgentError(f"a wallet agent already runs for this wallet (pid {pid}); "
                         "'passport agent stop' first")
    folder = home / DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    path = socket_path(home)
    if len(os.fsencode(path)) >= 104:  # sun_path holds 108 bytes on Linux, 104 elsewhere
        raise AgentError(f"{path} is too long a path for a Unix socket; use a shorter --home")
    path.unlink(missing_ok=True)  # left by an agent that died (none answered above)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(16)
    return sock


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def serve(sock: socket.socket, agent: Agent) -> None:
    """Answer connections until the time runs out or ``stop``; then remove the socket, and
    let each connection finish the answer it is writing (``stop``'s own) before returning:
    the process ends right after."""
    open_: list[tuple[socket.socket, threading.Thread]] = []
    try:
        while not agent.stopped.is_set():
            remaining = agent.remaining_s()
            if remaining <= 0:
                break
            sock.settimeout(min(remaining, 1.0))
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            if peer_uid(conn) != os.getuid():
                conn.close()  # another user: no answer at all
                continue
            thread = threading.Thread(target=_connection, args=(conn, agent), daemon=True)
            thread.start()
            open_ = [(c, t) for c, t in open_ if t.is_alive()] + [(conn, thread)]
    finally:
        agent.end()
        for conn, thread in open_:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RD)  # a client waiting to send more: its read ends
            thread.join(CLOSING_S)
        agent.forget()
        sock.close()


def _connection(conn: socket.socket, agent: Agent) -> None:
    """One client's requests, one line each, until it hangs up or the agent ends."""
    with conn, conn.makefile("rb") as reader:
        while not agent.stopped.is_set():
            conn.settimeout(max(agent.remaining_s(), 0.01))
            try:
                line = reader.readline(MAX_LINE)
            except OSError:
                return
            if not line:
                return
            try:
                request = json.loads(line)
            except ValueError:
                request = None
            try:
                conn.sendall(json.dumps(agent.answer(request)).encode("utf-8") + b"\n")
            except OSError:
                return


def start(home: Path, store: Keystore, ttl_s: float) -> int:
    """Bind the socket here, then fork the agent into the background (twice, so it belongs
    to no terminal and leaves no zombie); its pid."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise AgentError(f"the agent's time must be more than 0 and at most {MAX_TTL_S // 3600} h")
    sock = listen(home)
    agent = Agent(store, ttl_s, socket_path(home))
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork():
            os._exit(0)  # the first child: its child, the agent, is adopted by init
        _detach(sock.fileno())
        code = 0
        try:
            serve(sock, agent)
        except SystemExit:
            pass
        except BaseException:  # the daemon has no terminal to report to
            code = 1
        os._exit(code)
    os.waitpid(child, 0)
    sock.close()
    agent.forget()
    running = connect(home)  # the agent answers from its first instant: the socket is bound
    if running is None:
        raise AgentError("the wallet agent did not start")
    try:
        return int(running.call("status")["pid"])
    finally:
        running.close()


def _detach(keep: int) -> None:
    """No terminal, and no descriptor of the command that started it but its socket."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))

    def _end(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _end)
    signal.signal(signal.SIGINT, _end)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def stop(home: Path) -> int | None:
    """Ask the running agent to end; its pid, or None if none ran."""
    running = connect(home)
    if running is None:
        return None
    pid = running.call("status").get("pid")
    running.call("stop")
    running.close()
    return int(pid) if isinstance(pid, int) else None


def status(home: Path) -> dict[str, Any] | None:
    running = connect(home)
    if running is None:
        return None
    try:
        return running.call("status")
    finally:
        running.close()
