"""ledger.checkpoint: C2SP checkpoints in signed notes, byte for byte as Go's note package."""

from __future__ import annotations

import base64

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import checkpoint
from ledger.checkpoint import TreeHead
from ledger.errors import TreeHeadError

ORIGIN = "passport.example/log"
KEY = nacl.signing.SigningKey(bytes(range(32)))
OTHER = nacl.signing.SigningKey(bytes(range(1, 33)))
HEAD = TreeHead(ORIGIN, 1234, bytes(range(32)), 1_700_000_000_123)

# golang.org/x/mod/sumdb/note's documented example (note.go, note_test.go).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_NOTE = GO_TEXT + (
    "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()


def test_matches_go_note_package() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    key = nacl.signing.SigningKey(seed[1:])
    assert checkpoint.sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE
    assert checkpoint.vkey_line("PeterNeumann", key.verify_key) == GO_VKEY


def test_layout() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    body, sig = note.decode().split("\n\n")
    assert body.split("\n") == [
        ORIGIN, "1234", base64.b64encode(HEAD.root).decode(), "time 1700000000123",
    ]
    assert sig.startswith(f"\u2014 {ORIGIN} ") and sig.endswith("\n")
    blob = base64.b64decode(sig.split(" ")[2])
    assert blob[:4] == checkpoint.key_hash(ORIGIN, KEY.verify_key) and len(blob) == 68
    assert HEAD.body() == (body + "\n").encode()


origins = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zs", "Zl", "Zp"]),
    min_size=1, max_size=40,
).filter(lambda s: "+" not in s and not any(c.isspace() for c in s))


@settings(max_examples=100, deadline=None)
@given(origins, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32),
       st.integers(0, 2**64 - 1))
def test_round_trip(origin: str, size: int, root: bytes, ts: int) -> None:
    head = TreeHead(origin, size, root, ts)
    note = checkpoint.sign_tree_head(head, KEY)
    assert checkpoint.parse_checkpoint(note, KEY.verify_key) == head
    assert checkpoint.parse_checkpoint(note, KEY.verify_key, origin=origin) == head


def test_every_flipped_byte_fails() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    for i in range(len(note)):
        for mask in (0x01, 0x02, 0x20, 0x80):
            bad = bytearray(note)
            bad[i] ^= mask
            with pytest.raises(TreeHeadError):
                checkpoint.parse_checkpoint(bytes(bad), KEY.verify_key)


def test_truncations_and_trailing_garbage_fail() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    for cut in range(len(note)):
        with pytest.raises(TreeHeadError):
            checkpoint.parse_checkpoint(note[:cut], KEY.verify_key)
    for extra in (b"x", b"\n", b"junk\n", b" ", b"\x00"):
        with pytest.raises(TreeHeadError):
            checkpoint.parse_checkpoint(note + extra, KEY.verify_key)


def test_wrong_key_and_wrong_origin_fail() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    with pytest.raises(TreeHeadError, match="no signature"):
        checkpoint.parse_checkpoint(note, OTHER.verify_key)
    with pytest.raises(TreeHeadError, match="origin"):
        checkpoint.parse_checkpoint(note, KEY.verify_key, origin="other.example/log")


def _cosign(note: bytes, name: str, key: nacl.signing.SigningKey) -> bytes:
    """Append a signature line over the same text, as a witness does."""
    text = note[: note.rindex(b"\n\n") + 1]
    return note + checkpoint.sign_note(text, name, key)[len(text) + 1 :]


def test_cosignatures_are_tolerated() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    witnessed = _cosign(note, "witness.example/w1", OTHER)
    assert checkpoint.parse_checkpoint(witnessed, KEY.verify_key) == HEAD
    # Same name as the log but another key (a rotated key): a different key ID, ignored.
    rotated = _cosign(note, ORIGIN, OTHER)
    assert checkpoint.parse_checkpoint(rotated, KEY.verify_key) == HEAD
    # The witness line may come first.
    text = note[: note.rindex(b"\n\n") + 2]
    first = text + witnessed[len(note) :] + note[len(text) :]
    assert checkpoint.parse_checkpoint(first, KEY.verify_key) == HEAD
    # An unknown signature type (a 0x04 timestamped cosignature is 4 + 8 + 64 bytes).
    blob = base64.b64encode(b"\x00" * 76).decode()
    odd = note + f"— witness.example/w2 {blob}\n".encode()
    assert checkpoint.parse_checkpoint(odd, KEY.verify_key) == HEAD
    # Only the witness signed: refused.
    only_witness = text + witnessed[len(note) :]
    with pytest.raises(TreeHeadError, match="no signature"):
        checkpoint.parse_checkpoint(only_witness, KEY.verify_key)


def test_bad_line_claiming_the_log_key_fails() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    kid = checkpoint.key_hash(ORIGIN, KEY.verify_key)
    forged = base64.b64encode(kid + b"\x00" * 64).decode()
    with pytest.raises(TreeHeadError, match="does not verify"):
        checkpoint.parse_checkpoint(note + f"— {ORIGIN} {forged}\n".encode(), KEY.verify_key)
    short = base64.b64encode(kid + b"\x00" * 10).decode()
    with pytest.raises(TreeHeadError, match="does not verify"):
        checkpoint.parse_checkpoint(note + f"— {ORIGIN} {short}\n".encode(), KEY.verify_key)


def test_malformed_signature_lines_fail() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    good = base64.b64encode(b"\x00" * 68).decode()
    for line in (
        f"- w.example {good}",  # hyphen, not em dash
        f"—w.example {good}",
        f"— w.example  {good}",
        f"— w+x.example {good}",
        "— w.example ",
        "— w.example AAAA",  # fewer than 5 bytes
        "— w.example AAAAAAA",  # unpadded
        f"— w.example {good[:-4]}AB==",  # not canonical
    ):
        with pytest.raises(TreeHeadError):
            checkpoint.parse_checkpoint(note + (line + "\n").encode(), KEY.verify_key)
    many = note + f"— w.example {good}\n".encode() * checkpoint.MAX_SIGNATURES
    with pytest.raises(TreeHeadError, match="more than"):
        checkpoint.parse_checkpoint(many, KEY.verify_key)


def _signed_body(*lines: str) -> bytes:
    """A properly signed note over an arbitrary body, so only the body check can fail."""
    return checkpoint.sign_note(("\n".join(lines) + "\n").encode(), ORIGIN, KEY)


ROOT64 = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize("size", ["01", "-1", "1.0", "+1", " 1", "1 ", "", "1_000", "\u0661",
                                  "0x10", "18446744073709551616", "9" * 5000])
def test_malformed_sizes_are_refused(size: str) -> None:
    with pytest.raises(TreeHeadError):
        checkpoint.parse_checkpoint(_signed_body(ORIGIN, size, ROOT64, "time 1"), KEY.verify_key)


@pytest.mark.parametrize("root", [
    "not base64!", ROOT64.rstrip("="), base64.b64encode(bytes(31)).decode(),
    base64.b64encode(bytes(33)).decode(), ROOT64[:-2] + "B=", ROOT64.replace("A", "-", 1),
    base64.urlsafe_b64encode(b"\xff" * 32).decode(), "",
])
def test_bad_roots_are_refused(root: str) -> None:
    with pytest.raises(TreeHeadError, match="root hash"):
        checkpoint.parse_checkpoint(_signed_body(ORIGIN, "5", root, "time 1"), KEY.verify_key)


@pytest.mark.parametrize("extensions", [
    [], ["time 1", "time 2"], ["time 1", "other"], ["time 01"], ["time -1"], ["Time 1"],
    ["time  1"], ["time"], ["time 1.5"], [""], ["time 1", ""], ["time " + "9" * 5000],
])
def test_time_extension_is_required_alone(extensions: list[str]) -> None:
    with pytest.raises(TreeHeadError):
        checkpoint.parse_checkpoint(_signed_body(ORIGIN, "5", ROOT64, *extensions),
                                    KEY.verify_key)


def test_framing_errors() -> None:
    note = checkpoint.sign_tree_head(HEAD, KEY)
    body = HEAD.body()
    cases = {
        "UTF-8": note.replace(b"\xe2\x80\x94", b"\xe2\x80"),
        "control": note.replace(b"time", b"t\x01me"),
        "blank line": body + note[len(body) + 1 :],
        "no signature lines": body + b"\n",
    }
    for message, bad in cases.items():
        with pytest.raises(TreeHeadError, match=message):
            checkpoint.parse_checkpoint(bad, KEY.verify_key)


def test_invalid_heads_cannot_be_made() -> None:
    for origin in ("", "a b", "a+b", "a\tb", "a\u00a0b", "a\nb"):
        with pytest.raises(TreeHeadError):
            TreeHead(origin, 0, bytes(32), 0)
    with pytest.raises(TreeHeadError):
        TreeHead(ORIGIN, -1, bytes(32), 0)
    with pytest.raises(TreeHeadError):
        TreeHead(ORIGIN, 0, bytes(31), 0)
    with pytest.raises(TreeHeadError):
        TreeHead(ORIGIN, 0, bytes(32), -5)
    with pytest.raises(TreeHeadError):
        checkpoint.sign_note(b"no newline", ORIGIN, KEY)


def test_vkey_line_for_the_log() -> None:
    line = checkpoint.vkey_line(ORIGIN, KEY.verify_key)
    name, kid, key = line.split("+", 2)
    assert name == ORIGIN
    assert bytes.fromhex(kid) == checkpoint.key_hash(ORIGIN, KEY.verify_key)
    assert base64.b64decode(key) == b"\x01" + bytes(KEY.verify_key)
