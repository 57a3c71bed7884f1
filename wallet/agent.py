"""Talking to the wallet agent (``passport agent start``): keys that sign without being here.

The agent (``wallet.agent_server``) holds the member's unlocked keys for a time the member
set and answers on a Unix socket in the wallet home, ``agent/agent.sock`` (the directory 0700,
the socket 0600, the peer's uid checked on both ends).  A command that finds it running uses
it instead of asking for the passphrase and running Argon2id; otherwise it unlocks the key
store itself.  The agent sends back signatures and the content key of a value it opens,
never a seed or a private key (docs/security.md, "The wallet agent").

The protocol is one JSON object per line each way:

* ``{"op": "keys"}`` -> ``{"did", "role", "device", "keys": [hex public keys, oldest first]}``
* ``{"op": "sign", "key": hex, "message": b64}`` -> ``{"signature": b64}``
* ``{"op": "unwrap", "key": hex, "wrapped": str}`` -> ``{"content_key": b64}``
* ``{"op": "status"}`` -> ``{"did", "pid", "expires_in_s"}``; ``{"op": "stop"}`` -> ``{}``

A refusal is ``{"error": code, "detail": text}``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.encoding
import nacl.exceptions
import nacl.public
import nacl.signing

from ledger import seal
from ledger.errors import SealError
from wallet.errors import KeystoreError
from wallet.keystore import Keystore

DIR, SOCKET = "agent", "agent.sock"
# SO_PEERCRED answers (pid, uid, gid) as three C ints on Linux.
PEERCRED = struct.Struct("3i")


class AgentError(KeystoreError):
    """The agent refused, or answered something that is not the protocol."""

    code = "agent-error"


def socket_path(home: Path) -> Path:
    return home / DIR / SOCKET


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (the kernel says, not it)."""
    _pid, uid, _gid = PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                      PEERCRED.size))
    return int(uid)


class AgentClient:
    """One connection to the agent, kept for the process's lifetime."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._reader = conn.makefile("rb")

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        try:
            self._conn.sendall(json.dumps({"op": op, **args}).encode("utf-8") + b"\n")
            line = self._reader.readline()
        except OSError as e:
            raise AgentError(f"the wallet agent stopped answering ({e}); run the command "
                             "again (it unlocks the key store itself when no agent runs)"
                             ) from None
        if not line:
            raise AgentError("the wallet agent closed the connection (its time ran out?); "
                             "run the command again")
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise AgentError("the wallet agent answered something that is not JSON")
        if "error" in answer:
            if answer["error"] == "not-sealed":
                raise SealError(str(answer.get("detail")))
            raise AgentError(f"the wallet agent refused: {answer.get('detail')}")
        return answer

    def close(self) -> None:
        self._reader.close()
        self._conn.close()


def connect(home: Path) -> AgentClient | None:
    """The agent of the wallet at ``home``, if one runs (as this user); None otherwise."""
    path = socket_path(home)
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:  # a socket left by an agent that died: as if none ran
        conn.close()
        return None
    if peer_uid(conn) != os.getuid():
        conn.close()
        raise AgentError(f"{path} is served by another user's process: not using it")
    return AgentClient(conn)


class AgentKey(nacl.signing.SigningKey):
    """A signing key the agent holds: signs through it, never holds the seed.

    It stands wherever the wallet passes a ``SigningKey`` (records, signed requests,
    credentials).  Its private halves are not here, so ``bytes(key)`` and the X25519 form
    refuse; values are opened with ``unwrap`` below.
    """

    def __init__(self, agent: AgentClient, public_key: bytes) -> None:  # no super(): no seed
        self._agent = agent
        self.verify_key = nacl.signing.VerifyKey(public_key)

    def sign(self, message: bytes,
             encoder: nacl.encoding.Encoder = nacl.encoding.RawEncoder
             ) -> nacl.signing.SignedMessage:
        answer = self._agent.call("sign", key=bytes(self.verify_key).hex(),
                                  message=base64.b64encode(message).decode("ascii"))
        signature = base64.b64decode(answer["signature"])
        try:
            self.verify_key.verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            raise AgentError("the wallet agent's signature does not verify") from None
        return nacl.signing.SignedMessage._from_parts(
            encoder.encode(signature), encoder.encode(message),
            encoder.encode(signature + message))

    def unwrap(self, wrapped: str) -> bytes:
        answer = self._agent.call("unwrap", key=bytes(self.verify_key).hex(), wrapped=wrapped)
        return base64.b64decode(answer["content_key"])

    def to_curve25519_private_key(self) -> nacl.public.PrivateKey:
        raise AgentError("the wallet agent holds this key: its private half is not here")

    def __bytes__(self) -> bytes:
        raise AgentError("the wallet agent holds this key: its seed is not here")

    def __hash__(self) -> int:
        return hash(bytes(self.verify_key))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AgentKey) and other.verify_key == self.verify_key


def unwrap(wrapped: str, key: nacl.signing.SigningKey) -> bytes:
    """A value's content key, opened with ``key`` here or by the agent that holds it."""
    if isinstance(key, AgentKey):
        return key.unwrap(wrapped)
    return seal.unwrap_key(wrapped, key)


@dataclass
class AgentKeystore(Keystore):
    """The key store as the agent holds it: the public parts here, the keys there."""

    held: list[AgentKey] = field(default_factory=list)

    @property
    def signing_keys(self) -> list[nacl.signing.SigningKey]:
        return list(self.held)

    def add(self) -> nacl.signing.SigningKey:
        raise AgentError("a new key is saved under your passphrase: stop the wallet agent "
                         "('passport agent stop') and run the command again")


def keystore_from(home: Path, did: str) -> AgentKeystore | None:
    """The keys of the wallet ``did`` at ``home`` through its running agent; None if none."""
    agent = connect(home)
    if agent is None:
        return None
    try:
        d = agent.call("keys")
    except AgentError:  # its time ran out as we asked: as if none ran
        agent.close()
        return None
    if d.get("did") != did:
        agent.close()
        raise AgentError(f"the wallet agent at {socket_path(home)} holds {d.get('did')}'s keys, "
                         f"not {did}'s")
    held = [AgentKey(agent, bytes.fromhex(k)) for k in d["keys"]]
    return AgentKeystore(did=did, role=str(d["role"]), seeds=[], device=d["device"] is True,
                         held=held)
