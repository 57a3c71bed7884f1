"""The node's log key: an Ed25519 seed in a 0600 file in the node's home, made on first use."""

from __future__ import annotations

import os
from pathlib import Path

import nacl.signing

from ledger.errors import KeyFormatError, StoreError

LOG_KEY_FILE = "log.key"
SEED_BYTES = 32


def load_or_create_log_key(home: Path) -> nacl.signing.SigningKey:
    path = home / LOG_KEY_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise StoreError(f"{path} is readable by other users; chmod 600 it")
        text = path.read_text().strip()
        try:
            seed = bytes.fromhex(text)
        except ValueError as e:
            raise KeyFormatError(f"{path} does not hold a hex Ed25519 seed") from e
        if len(seed) != SEED_BYTES:
            raise KeyFormatError(f"{path} does not hold a 32-byte Ed25519 seed")
        return nacl.signing.SigningKey(seed)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = nacl.signing.SigningKey.generate()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # never a half-written key file
    return key
