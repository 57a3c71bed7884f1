"""wallet.vc against the published eddsa-jcs-2022 test vectors (w3c/vc-di-eddsa, see
tests/vectors/eddsa-jcs-2022/SOURCE.md): every intermediate value, then tampering refused."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import base58
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.encoding import canonical
from wallet import vc
from wallet.errors import PresentationInvalidError, WalletError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "eddsa-jcs-2022"


def text(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8").strip()


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


KEY_PAIR = load("keyPair.json")
UNSIGNED = load("unsigned.json")
SIGNED = load("signedJCS.json")
PROOF_CONFIG = load("proofConfigJCS.json")
SIGNING_KEY = vc.signing_key_from_multibase(KEY_PAIR["privateKeyMultibase"])
CREATED = PROOF_CONFIG["created"]


def test_the_key_pair_matches_its_public_multikey() -> None:
    did = keys.did_of(SIGNING_KEY)
    assert did == "did:key:" + KEY_PAIR["publicKeyMultibase"]
    assert vc.verification_method(bytes(SIGNING_KEY.verify_key)) == \
        PROOF_CONFIG["verificationMethod"]


def test_canonical_document_is_the_vectors_jcs() -> None:
    assert canonical(UNSIGNED).decode() == text("canonDocJCS.txt")


def test_canonical_proof_config_is_the_vectors_jcs() -> None:
    options = {k: v for k, v in PROOF_CONFIG.items() if k != "@context"}
    assert vc.canonical_proof_config(UNSIGNED, options).decode() == text("proofCanonJCS.txt")
    # the vector's own config (with @context already) canonicalises to the same bytes
    assert vc.canonical_proof_config(UNSIGNED, PROOF_CONFIG).decode() == text("proofCanonJCS.txt")


def test_hashes_and_combined_hash_match() -> None:
    config = vc.canonical_proof_config(UNSIGNED, PROOF_CONFIG)
    document = canonical(UNSIGNED)
    assert hashlib.sha256(config).hexdigest() == text("proofHashJCS.txt")
    assert hashlib.sha256(document).hexdigest() == text("docHashJCS.txt")
    assert vc.hash_data(config, document).hex() == text("combinedHashJCS.txt")


def test_signature_matches_in_hex_and_base58btc() -> None:
    data = bytes.fromhex(text("combinedHashJCS.txt"))
    signature = bytes(SIGNING_KEY.sign(data).signature)
    assert signature.hex() == text("sigHexJCS.txt")
    assert vc.encode_signature(signature) == text("sigBTC58JCS.txt")


def test_signing_the_unsigned_document_gives_the_published_signed_document() -> None:
    signed = vc.add_proof(UNSIGNED, SIGNING_KEY, created=CREATED)
    assert signed == SIGNED
    assert signed["proof"]["proofValue"] == text("sigBTC58JCS.txt")


def test_the_published_signed_document_verifies() -> None:
    verified = vc.verify_proof(SIGNED)
    assert verified.public_key == bytes(SIGNING_KEY.verify_key)
    assert verified.verification_method == PROOF_CONFIG["verificationMethod"]
    assert verified.created == CREATED


def _other_method() -> str:
    other = keys.generate()
    return vc.verification_method(bytes(other.verify_key))


def _flip_signature(value: str) -> str:
    sig = bytearray(base58.b58decode(value[1:]))
    sig[10] ^= 1
    return vc.encode_signature(bytes(sig))


TAMPERINGS: dict[str, tuple[Any, str]] = {
    "changed claim": (lambda d: d["credentialSubject"].update(alumniOf="Another School"),
                      "does not verify"),
    "added claim": (lambda d: d.update(extra=1), "does not verify"),
    "another key in verificationMethod": (
        lambda d: d["proof"].update(verificationMethod=_other_method()), "does not verify"),
    "wrong cryptosuite": (lambda d: d["proof"].update(cryptosuite="eddsa-rdfc-2022"),
                          "cryptosuite"),
    "wrong proof type": (lambda d: d["proof"].update(type="Ed25519Signature2020"),
                         "proof type"),
    "altered created": (lambda d: d["proof"].update(created="2023-02-24T23:36:39Z"),
                        "does not verify"),
    "created not a dateTime": (lambda d: d["proof"].update(created="yesterday"), "dateTime"),
    "wrong purpose": (lambda d: d["proof"].update(proofPurpose="authentication"),
                      "proofPurpose"),
    "flipped signature bit": (lambda d: d["proof"].update(
        proofValue=_flip_signature(d["proof"]["proofValue"])), "does not verify"),
    "proofValue not base58btc": (lambda d: d["proof"].update(proofValue="u" + "A" * 86),
                                 "multibase"),
    "short signature": (lambda d: d["proof"].update(proofValue="z" + "1" * 10), "64-byte"),
    "document context differs": (lambda d: d.update({"@context": [
        "https://www.w3.org/ns/credentials/v2"]}), "@context"),
    "verificationMethod not did:key": (lambda d: d["proof"].update(
        verificationMethod="https://vc.example/issuers/5678#key-1"), "did:key URL"),
    "fragment of another key": (lambda d: d["proof"].update(
        verificationMethod=SIGNED["proof"]["verificationMethod"].split("#")[0] + "#"
        + _other_method().split("#")[1]), "did:key URL"),
    "no proof": (lambda d: d.pop("proof"), "no proof"),
    "proof set": (lambda d: d.update(proof=[d["proof"]]), "proof sets"),
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_tampered_document_or_proof_is_refused(name: str) -> None:
    change, says = TAMPERINGS[name]
    doc = copy.deepcopy(SIGNED)
    change(doc)
    with pytest.raises(PresentationInvalidError, match=says) as refused:
        vc.verify_proof(doc)
    assert isinstance(refused.value, WalletError)
    assert refused.value.check in {"proof", "format"}


def test_a_fresh_key_signs_and_verifies_a_document_without_context() -> None:
    key = keys.generate()
    signed = vc.add_proof({"hello": "world", "n": 1}, key, created="2026-01-01T00:00:00Z")
    assert "@context" not in signed["proof"]
    assert vc.verify_proof(signed).public_key == bytes(key.verify_key)
    signed["n"] = 2
    with pytest.raises(PresentationInvalidError, match="does not verify"):
        vc.verify_proof(signed)


def test_a_document_already_carrying_a_proof_is_not_signed_again() -> None:
    with pytest.raises(PresentationInvalidError, match="already carries a proof"):
        vc.add_proof(SIGNED, SIGNING_KEY, created=CREATED)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(path=st.sampled_from(["alumniOf", "id", "@new"]), value=JSON_VALUES)
def test_any_change_to_a_claim_is_detected(path: str, value: Any) -> None:
    doc = copy.deepcopy(SIGNED)
    subject = doc["credentialSubject"]
    assume(subject.get(path, object()) != value)
    subject[path] = value
    with pytest.raises(PresentationInvalidError, match="does not verify"):
        vc.verify_proof(doc)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(document=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "proof"),
                                JSON_VALUES, max_size=5))
def test_whatever_is_signed_verifies(document: dict[str, Any]) -> None:
    signed = vc.add_proof(document, SIGNING_KEY, created=CREATED)
    assert vc.verify_proof(json.loads(json.dumps(signed))).public_key == \
        bytes(SIGNING_KEY.verify_key)
