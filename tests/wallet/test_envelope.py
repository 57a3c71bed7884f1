"""wallet.envelope: a payload sealed to unnamed recipients, opened by any one of them only."""

from __future__ import annotations

from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.encoding import b64url_decode, b64url_encode
from wallet.envelope import open_envelope, seal_envelope
from wallet.errors import EnvelopeError, WalletError

SUBJECT = nacl.signing.SigningKey(b"\x01" * 32)
ATTESTER = nacl.signing.SigningKey(b"\x02" * 32)
STRANGER = nacl.signing.SigningKey(b"\x03" * 32)
CLAIM = {"kind": "presence", "place": "Hall B", "at": "2025-05-01"}


def pub(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def sealed() -> dict[str, Any]:
    return seal_envelope(CLAIM, [pub(SUBJECT), pub(ATTESTER)])


def test_each_recipient_opens_the_payload() -> None:
    env = sealed()
    assert open_envelope(env, [SUBJECT]) == CLAIM
    assert open_envelope(env, [ATTESTER]) == CLAIM


def test_a_stranger_cannot_open_it() -> None:
    with pytest.raises(EnvelopeError, match="not sealed to any of your keys"):
        open_envelope(sealed(), [STRANGER])


def test_any_of_several_keys_opens_it_after_a_rotation() -> None:
    assert open_envelope(sealed(), [STRANGER, SUBJECT]) == CLAIM


def test_the_envelope_names_no_recipient_and_holds_no_plaintext() -> None:
    env = sealed()
    assert set(env) == {"ct", "keys"} and len(env["keys"]) == 2
    text = repr(env)
    assert "Hall B" not in text and "presence" not in text
    assert b64url_encode(pub(SUBJECT)) not in text


def test_a_flipped_ciphertext_byte_is_refused() -> None:
    env = sealed()
    ct = bytearray(b64url_decode(env["ct"]))
    ct[-1] ^= 1
    with pytest.raises(EnvelopeError, match="altered"):
        open_envelope({"ct": b64url_encode(bytes(ct)), "keys": env["keys"]}, [SUBJECT])


@pytest.mark.parametrize("bad", [
    {}, {"ct": "AAAA"}, {"ct": "AAAA", "keys": []}, {"ct": "AAAA", "keys": ["x"], "extra": 1},
    {"ct": "not base64!", "keys": ["x"]}, {"ct": "AAAA", "keys": ["x"]}, {"ct": 1, "keys": [1]},
    "not an object",
])
def test_a_malformed_envelope_is_one_clear_error(bad: Any) -> None:
    with pytest.raises(EnvelopeError):
        open_envelope(bad, [SUBJECT])


def test_sealing_needs_a_recipient_and_well_formed_keys() -> None:
    with pytest.raises(EnvelopeError, match="at least one"):
        seal_envelope(CLAIM, [])
    with pytest.raises(EnvelopeError, match="32-byte"):
        seal_envelope(CLAIM, [b"short"])


def test_an_unencodable_payload_is_refused() -> None:
    with pytest.raises(EnvelopeError):
        seal_envelope({"x": 2**60}, [pub(SUBJECT)])


def test_envelope_error_is_a_wallet_error() -> None:
    assert issubclass(EnvelopeError, WalletError)


def test_duplicate_recipients_get_one_wrapped_key() -> None:
    assert len(seal_envelope(CLAIM, [pub(SUBJECT), pub(SUBJECT)])["keys"]) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_round_trip_any_json_object(payload: dict[str, Any]) -> None:
    assert open_envelope(seal_envelope(payload, [pub(ATTESTER)]), [ATTESTER]) == payload
