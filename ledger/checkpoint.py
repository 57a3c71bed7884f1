"""Signed tree heads as C2SP checkpoints (c2sp.org/tlog-checkpoint) in signed notes
(c2sp.org/signed-note), so stock witnesses and Go's ``note`` package can read and cosign them.

The note text is::

    <origin>
    <tree size, decimal>
    <root hash, standard padded base64>
    time <unix milliseconds>

The single extension line ``time <ms>`` carries the DESIGN's tree-head "time".  The log signs
with Ed25519 under the key name ``origin``.  A signed note has no domain tag of its own: the
checkpoint's fixed layout (and a log key used for nothing else) is what keeps these signatures
apart from record signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from ledger.errors import TreeHeadError

HASH_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
ED25519_TYPE = b"\x01"
SIG_PREFIX = "\u2014 "  # EM DASH, space
MAX_SIGNATURES = 100  # the spec requires accepting at least 16; Go's note package stops at 100
MAX_UINT64 = (1 << 64) - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_TIME_LINE = re.compile(r"time (0|[1-9][0-9]*)", re.ASCII)


def _is_key_name(name: str) -> bool:
    """Signed-note key names: non-empty, no Unicode spaces, no '+'; also no control chars."""
    return bool(name) and "+" not in name and not any(
        c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in name
    )


@dataclass(frozen=True)
class TreeHead:
    """What the log commits to at one size; the key name of its signature is ``origin``."""

    origin: str
    size: int
    root: bytes
    timestamp_ms: int

    def __post_init__(self) -> None:
        if not _is_key_name(self.origin):
            raise TreeHeadError("origin must be non-empty, without spaces, '+' or control chars")
        if not 0 <= self.size <= MAX_UINT64:
            raise TreeHeadError(f"tree size {self.size} is out of range")
        if len(self.root) != HASH_SIZE:
            raise TreeHeadError(f"root hash is {len(self.root)} bytes, not {HASH_SIZE}")
        if not 0 <= self.timestamp_ms <= MAX_UINT64:
            raise TreeHeadError(f"timestamp {self.timestamp_ms} is out of range")

    def body(self) -> bytes:
        """The note text that is signed, final newline included."""
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\ntime {self.timestamp_ms}\n".encode()


def key_hash(name: str, verify_key: nacl.signing.VerifyKey) -> bytes:
    """The 4-byte signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    data = name.encode() + b"\n" + ED25519_TYPE + bytes(verify_key)
    return hashlib.sha256(data).digest()[:4]


def vkey_line(origin: str, verify_key: nacl.signing.VerifyKey) -> str:
    """The verifier key ``<name>+<hex key ID>+<base64(0x01 || key)>`` witnesses are given."""
    if not _is_key_name(origin):
        raise TreeHeadError("origin is not a valid key name")
    key = base64.b64encode(ED25519_TYPE + bytes(verify_key)).decode("ascii")
    return f"{origin}+{key_hash(origin, verify_key).hex()}+{key}"


def sign_note(text: bytes, name: str, signing_key: nacl.signing.SigningKey) -> bytes:
    """A signed note with one Ed25519 signature line, byte for byte as Go's ``note.Sign``."""
    if not _is_key_name(name):
        raise TreeHeadError("key name must be non-empty, without spaces, '+' or control chars")
    if not text.endswith(b"\n"):
        raise TreeHeadError("note text must end with a newline")
    signature = signing_key.sign(text).signature
    blob = base64.b64encode(key_hash(name, signing_key.verify_key) + signature)
    return text + b"\n" + f"{SIG_PREFIX}{name} {blob.decode('ascii')}\n".encode()


def sign_tree_head(head: TreeHead, signing_key: nacl.signing.SigningKey) -> bytes:
    """The complete checkpoint: body, blank line, the log's signature line."""
    return sign_note(head.body(), head.origin, signing_key)


def _ed25519_verifies(verify_key: nacl.signing.VerifyKey, text: bytes, sig: bytes) -> bool:
    if len(sig) != ED25519_SIGNATURE_SIZE:
        return False
    try:
        verify_key.verify(text, sig)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: padded, and canonical so one value has exactly one spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise TreeHeadError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise TreeHeadError(f"{what} is not canonical base64")
    return raw


def _split_note(note: bytes) -> tuple[str, list[str]]:
    """Signed-note framing: UTF-8 with no control chars but newline; text, blank line, sigs."""
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise TreeHeadError("checkpoint is not valid UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise TreeHeadError("checkpoint contains a control character")
    split = text.rfind("\n\n")
    if split < 0:
        raise TreeHeadError("checkpoint has no blank line before its signatures")
    body, sigs = text[: split + 1], text[split + 2 :]
    if not sigs:
        raise TreeHeadError("checkpoint has no signature lines")
    if not sigs.endswith("\n"):
        raise TreeHeadError("checkpoint does not end with a newline (trailing garbage?)")
    return body, sigs[:-1].split("\n")


def _uint64(digits: str, what: str) -> int:
    """Bounded before ``int()``, which refuses (ValueError) past 4300 digits."""
    if len(digits) > 20 or int(digits) > MAX_UINT64:
        raise TreeHeadError(f"{what} {digits[:24]} is out of range")
    return int(digits)


def _parse_body(body: str) -> TreeHead:
    lines = body[:-1].split("\n")
    if len(lines) < 4:
        raise TreeHeadError(
            "checkpoint body needs origin, size, root hash and time lines, "
            f"got {len(lines)} line(s)"
        )
    origin, size_text, root_text, *extensions = lines
    if not _is_key_name(origin):
        raise TreeHeadError("origin is empty or contains spaces, '+' or control chars")
    if not _DECIMAL.fullmatch(size_text):
        raise TreeHeadError(f"tree size {size_text!r} is not a canonical decimal")
    root = _b64decode(root_text, "root hash")
    if len(root) != HASH_SIZE:
        raise TreeHeadError(f"root hash is {len(root)} bytes, not {HASH_SIZE}")
    if len(extensions) != 1:
        raise TreeHeadError(
            f"expected exactly one extension line ('time <ms>'), got {len(extensions)}"
        )
    time_match = _TIME_LINE.fullmatch(extensions[0])
    if time_match is None:
        raise TreeHeadError(f"extension line {extensions[0]!r} is not 'time <milliseconds>'")
    size, timestamp = _uint64(size_text, "tree size"), _uint64(time_match.group(1), "time")
    return TreeHead(origin=origin, size=size, root=root, timestamp_ms=timestamp)


def parse_checkpoint(
    note: bytes, verify_key: nacl.signing.VerifyKey, origin: str | None = None
) -> TreeHead:
    """Check framing, body and the log's signature strictly; ``TreeHeadError`` names the fault.

    Signatures by other keys (witness cosignatures, a rotated log key) must be well formed
    but are otherwise ignored, as the signed-note spec requires.  Every line that claims this
    key (same name and key ID) must verify; at least one must be present.
    """
    body, sig_lines = _split_note(note)
    if len(sig_lines) > MAX_SIGNATURES:
        raise TreeHeadError(f"checkpoint has more than {MAX_SIGNATURES} signatures")
    head = _parse_body(body)
    if origin is not None and head.origin != origin:
        raise TreeHeadError(f"checkpoint is for origin {head.origin!r}, not {origin!r}")
    want_id = key_hash(head.origin, verify_key)
    body_bytes = body.encode("utf-8")
    verified = False
    for n, line in enumerate(sig_lines, start=1):
        if not line.startswith(SIG_PREFIX):
            raise TreeHeadError(f"signature line {n} does not start with an em dash and space")
        name, sep, blob_text = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not _is_key_name(name) or not blob_text:
            raise TreeHeadError(f"signature line {n} is not '— <key name> <base64>'")
        blob = _b64decode(blob_text, f"signature line {n}")
        if len(blob) < 5:
            raise TreeHeadError(f"signature line {n} is too short")
        if name != head.origin or blob[:4] != want_id:
            continue  # another key's signature: a cosignature, or an unknown key
        if not _ed25519_verifies(verify_key, body_bytes, blob[4:]):
            raise TreeHeadError(f"signature line {n} by {name} does not verify")
        verified = True
    if not verified:
        raise TreeHeadError(f"checkpoint carries no signature by {head.origin}'s log key")
    return head
