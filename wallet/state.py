"""What the wallet remembers besides its keys: the node's log key and the last tree head seen.

``wallet.json`` holds nothing secret and nothing that cannot be rebuilt, except the trust it
records: the log key pinned on first contact and the latest signed tree head.  Every sync
checks that the node's new head is signed by that key and is consistent with the old one, so
a node that rewrites or forks history, or shows this member a different history than before,
is caught and not trusted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing

from ledger import merkle
from ledger.checkpoint import TreeHead, parse_checkpoint
from ledger.encoding import b64url_decode
from ledger.errors import LedgerError
from wallet.errors import KeystoreError, UntrustedNodeError
from wallet.keystore import write_private

FILE_NAME = "wallet.json"


@dataclass
class WalletState:
    log_key: str | None = None  # hex Ed25519 public key of the node's log, pinned on first sync
    origin: str | None = None
    size: int = 0
    root: str = ""  # base64 root of the tree of ``size``
    checkpoint: str = ""  # the signed note, kept as evidence
    # did -> its chain state (``ChainState.to_json``; "" while it has no chain) of the parties
    # this wallet seals values to: their keys in force, refreshed by sync, not refetched by set
    readers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, home: Path) -> WalletState:
        path = home / FILE_NAME
        if not path.exists():
            return cls()
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise KeystoreError(f"{path} is damaged ({e}); delete it and run 'passport sync' "
                                "to rebuild it from the node") from None

    def save(self, home: Path) -> None:
        write_private(home / FILE_NAME, json.dumps(asdict(self), indent=1).encode())

    def verify_key(self) -> nacl.signing.VerifyKey | None:
        return None if self.log_key is None else nacl.signing.VerifyKey(bytes.fromhex(
            self.log_key))


def accept_head(state: WalletState, checkpoint: str, node_log_key: bytes,
                consistency: list[str] | None) -> TreeHead:
    """Check a newly served head against the pinned key and the last head; adopt it.

    ``consistency`` is the node's proof from ``state.size`` to the new size (base64url hashes),
    needed whenever the wallet already holds a non-empty head.
    """
    if state.log_key is None:
        state.log_key = node_log_key.hex()
    elif bytes.fromhex(state.log_key) != node_log_key:
        raise UntrustedNodeError("the node now signs with a different log key than the one this "
                            "wallet pinned; not trusting it")
    verify_key = state.verify_key()
    assert verify_key is not None
    try:
        head = parse_checkpoint(checkpoint.encode("utf-8"), verify_key)
    except LedgerError as e:
        raise UntrustedNodeError(f"the node's tree head does not verify: {e}") from None
    if state.origin is not None and head.origin != state.origin:
        raise UntrustedNodeError(f"the node's log is now {head.origin!r}, not {state.origin!r}")
    if head.size < state.size:
        raise UntrustedNodeError(f"the node's log shrank from {state.size} to {head.size} records: "
                            "it rolled back history this wallet saw")
    if 0 < state.size < head.size or (state.size == head.size and state.size > 0):
        old_root = base64.b64decode(state.root)
        try:
            if state.size == head.size:
                if old_root != head.root:
                    raise LedgerError("same size, different root")
            else:
                merkle.verify_consistency(
                    state.size, head.size, [b64url_decode(h) for h in consistency or []],
                    old_root, head.root)
        except LedgerError as e:
            raise UntrustedNodeError(f"the node's log at {head.size} is not consistent with the "
                                f"head of size {state.size} this wallet saw before ({e}): "
                                "it forked or rewrote history; not trusting it") from None
    state.origin, state.size = head.origin, head.size
    state.root = base64.b64encode(head.root).decode("ascii")
    state.checkpoint = checkpoint
    return head
