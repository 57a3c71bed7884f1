"""The encrypted key store: every Ed25519 seed a party ever made, sealed under a passphrase.

One file, ``keystore.json`` in the wallet home, mode 0600, replaced atomically.  The seeds are
encrypted with XChaCha20-Poly1305 under a key derived from the passphrase by Argon2id
(libsodium); the public header (did, role, KDF parameters) is the associated data, so it cannot
be edited without the passphrase noticing.  Nothing secret is ever written in clear.

Keys are kept as a flat list, oldest first.  Which one signs and which one is the pre-rotation
"next" key is decided by the chain (``ChainState``), not by this file, so a crash between
saving a new seed and appending the ``key.rotate`` that uses it loses nothing: the seed is
saved first, and the chain says later whether it is in force.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash
import nacl.signing
import nacl.utils

from ledger import keys
from ledger.encoding import b64url_decode, b64url_encode, canonical
from wallet.errors import KeystoreError, WrongPassphraseError

FILE_NAME = "keystore.json"
VERSION = 1
ROLES = ("member", "space", "service")
KDF_ALG = "argon2id13"
# Argon2id "moderate" (256 MiB, about 1 s here); PASSPORT_KDF=interactive (64 MiB) is for tests
# and small devices, and says so in the file.
KDF_PROFILES = {
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "interactive": (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                    nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),
}
MIN_PASSPHRASE_CHARS = 8
NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


@dataclass
class Keystore:
    did: str
    role: str
    seeds: list[bytes]  # 32-byte Ed25519 seeds, oldest first; seeds[0] is the identity key
    device: bool = False  # a second device's store: one device key for someone else's did

    @property
    def signing_keys(self) -> list[nacl.signing.SigningKey]:
        return [nacl.signing.SigningKey(s) for s in self.seeds]

    def key_for(self, public_key: bytes) -> nacl.signing.SigningKey:
        """The stored key whose public half is ``public_key``."""
        for key in self.signing_keys:
            if bytes(key.verify_key) == public_key:
                return key
        raise KeystoreError("the key in force on your chain is not in this key store "
                            "(was the key store replaced by an older copy?)")

    def key_committed_to(self, commitment: str) -> nacl.signing.SigningKey:
        for key in self.signing_keys:
            if keys.key_commitment(bytes(key.verify_key)) == commitment:
                return key
        raise KeystoreError("the pre-rotation key your chain commits to is not in this key "
                            "store, so the key cannot be rotated from here")

    def add(self) -> nacl.signing.SigningKey:
        key = keys.generate()
        self.seeds.append(bytes(key))
        return key


def create(role: str) -> Keystore:
    """A new identity key and its first pre-rotation key."""
    if role not in ROLES:
        raise KeystoreError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    identity = keys.generate()
    return Keystore(did=keys.did_of(identity), role=role,
                    seeds=[bytes(identity), bytes(keys.generate())])


def create_device(member: str) -> Keystore:
    """A device key for ``member``'s chain, in force once the main device adds it."""
    keys.public_key_from_did(member)
    return Keystore(did=member, role="member", seeds=[bytes(keys.generate())], device=True)


def path_in(home: Path) -> Path:
    return home / FILE_NAME


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(nacl.pwhash.argon2id.kdf(sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
                                          passphrase.encode("utf-8"), salt,
                                          opslimit=opslimit, memlimit=memlimit))


def save(store: Keystore, home: Path, passphrase: str, *, profile: str | None = None) -> None:
    """Encrypt and write atomically (temp file, fsync, rename); the old file stays until then."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise KeystoreError(f"the passphrase must have at least {MIN_PASSPHRASE_CHARS} "
                            "characters")
    profile = profile or os.environ.get("PASSPORT_KDF", "moderate")
    if profile not in KDF_PROFILES:
        raise KeystoreError(f"PASSPORT_KDF must be one of {', '.join(KDF_PROFILES)}")
    opslimit, memlimit = KDF_PROFILES[profile]
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    header: dict[str, Any] = {
        "v": VERSION, "did": store.did, "role": store.role,
        "kdf": {"alg": KDF_ALG, "opslimit": opslimit, "memlimit": memlimit,
                "salt": b64url_encode(salt), "profile": profile}}
    if store.device:
        header["device"] = True
    secret = canonical({"seeds": [b64url_encode(s) for s in store.seeds]})
    nonce = nacl.utils.random(NONCE_BYTES)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        secret, canonical(header), nonce, _derive(passphrase, salt, opslimit, memlimit))
    text = json.dumps({**header, "box": b64url_encode(nonce + ct)}, indent=1, sort_keys=True)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path_in(home), text.encode("utf-8"))


def write_private(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only.  ``durable=False``
    skips the fsync, for a cache that is rebuilt when lost or torn."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def header(home: Path) -> dict[str, Any]:
    """The public part: did and role, readable without the passphrase."""
    path = path_in(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"no wallet at {home} (run 'passport init' first, or pass --home)"
                            ) from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise KeystoreError(f"{path} is not a readable key store: {e}") from None
    if not isinstance(data, dict) or data.get("v") != VERSION or not isinstance(
            data.get("kdf"), dict):
        raise KeystoreError(f"{path} is not a version {VERSION} key store")
    return data


def load(home: Path, passphrase: str) -> Keystore:
    data = header(home)
    try:
        kdf = data["kdf"]
        head = {k: data[k] for k in ("v", "did", "role", "kdf", "device") if k in data}
        if kdf["alg"] != KDF_ALG:
            raise KeystoreError(f"unsupported key derivation {kdf['alg']!r}")
        sealed = b64url_decode(data["box"], what="key store box")
        key = _derive(passphrase, b64url_decode(kdf["salt"], what="salt"),
                      int(kdf["opslimit"]), int(kdf["memlimit"]))
    except (KeyError, TypeError, ValueError) as e:
        raise KeystoreError(f"{path_in(home)} is damaged: {e}") from None
    try:
        secret = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed[NONCE_BYTES:], canonical(head), sealed[:NONCE_BYTES], key)
    except nacl.exceptions.CryptoError:
        raise WrongPassphraseError("wrong passphrase for this wallet (or its key store was altered)"
                              ) from None
    seeds = [b64url_decode(s, what="seed") for s in json.loads(secret)["seeds"]]
    store = Keystore(did=str(data["did"]), role=str(data["role"]), seeds=seeds,
                     device=data.get("device") is True)
    if not store.device and keys.did_of(store.signing_keys[0]) != store.did:
        raise KeystoreError("the key store's identity key does not match its did")
    return store
