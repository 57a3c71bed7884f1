"""Field and attestation presentations built by real wallets on a real node, verified offline;
every lie a presenter could tell (re-signed with their own key, so the proof still verifies)
is caught by the check that names it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest

from ledger import keys
from ledger.encoding import b64url_encode, canonical
from ledger.records import sign_record
from ledger.seal import commitment
from wallet import vc, vc_present
from wallet.attest import attest
from wallet.errors import PresentationInvalidError, UsageError
from wallet.vc_credentials import ATTESTATION_CREDENTIAL, FIELD_CREDENTIAL, VC_CONTEXT
from wallet.vc_verify import NOT_CHECKED, OK, verify_presentation
from wallet.wallet import Wallet

MakeWallet = Callable[[str], Wallet]


def log_key(wallet: Wallet) -> bytes:
    assert wallet.state.log_key is not None
    return bytes.fromhex(wallet.state.log_key)


def statuses(doc: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {c.name: c.status for c in verify_presentation(doc, **kwargs).checks}


def resigned(doc: dict[str, Any], change: Callable[[dict[str, Any]], None],
             key: nacl.signing.SigningKey) -> dict[str, Any]:
    """``doc`` changed and signed again: a presenter lying with a valid proof of their own."""
    unsigned = copy.deepcopy({k: v for k, v in doc.items() if k != "proof"})
    change(unsigned)
    return vc.add_proof(unsigned, key, created=doc["proof"]["created"])


def refused(doc: dict[str, Any], check: str, says: str, **kwargs: Any) -> None:
    with pytest.raises(PresentationInvalidError, match=says) as caught:
        verify_presentation(doc, **kwargs)
    assert caught.value.check == check


@pytest.fixture(scope="module")
def alice(make_wallet: MakeWallet) -> Wallet:
    wallet = make_wallet("member")
    wallet.set("city", "Utrecht")
    wallet.set("expertise", ["bikes", "rust"])
    wallet.sync()  # the node's head now covers both values
    return wallet


@pytest.fixture(scope="module")
def field_vc(alice: Wallet) -> dict[str, Any]:
    return vc_present.present_field(alice, "expertise", with_proof=True)


def test_field_credential_has_the_documented_form(alice: Wallet,
                                                  field_vc: dict[str, Any]) -> None:
    record = alice.view().value("expertise")
    assert record is not None
    assert field_vc["@context"] == [VC_CONTEXT]
    assert field_vc["type"] == ["VerifiableCredential", FIELD_CREDENTIAL]
    assert field_vc["issuer"] == alice.did
    subject = field_vc["credentialSubject"]
    assert subject["id"] == alice.did and subject["field"] == "expertise"
    assert subject["value"] == ["bikes", "rust"]
    assert subject["commitment"] == record.body["commitment"]
    assert subject["record"] == record.id and subject["recordText"] == record.raw.decode()
    assert set(subject) >= {"salt", "logIndex", "inclusionProof", "checkpoint"}
    proof = field_vc["proof"]
    assert proof["cryptosuite"] == "eddsa-jcs-2022" and proof["type"] == "DataIntegrityProof"
    assert proof["verificationMethod"] == vc.verification_method(keys.public_key_from_did(
        alice.did))
    assert proof["created"] == field_vc["validFrom"]


def test_field_credential_with_proof_verifies_every_check(alice: Wallet,
                                                          field_vc: dict[str, Any]) -> None:
    result = verify_presentation(json.loads(json.dumps(field_vc)), log_key=log_key(alice))
    assert result.kind == FIELD_CREDENTIAL and result.member == alice.did
    assert {c.name: c.status for c in result.checks} == {
        "format": OK, "proof": OK, "key": OK, "commitment": OK, "record": OK, "inclusion": OK,
        "checkpoint": OK}


def test_without_the_log_key_the_checkpoint_is_reported_not_checked(
        field_vc: dict[str, Any]) -> None:
    assert statuses(field_vc)["checkpoint"] == NOT_CHECKED
    assert statuses(field_vc)["inclusion"] == OK


def test_a_bare_field_credential_checks_proof_and_commitment_only(alice: Wallet) -> None:
    bare = vc_present.present_field(alice, "city")
    assert "recordText" not in bare["credentialSubject"]
    assert bare["credentialSubject"]["value"] == "Utrecht"
    assert statuses(bare) == {"format": OK, "proof": OK, "key": OK, "commitment": OK,
                              "record": NOT_CHECKED, "inclusion": NOT_CHECKED,
                              "checkpoint": NOT_CHECKED}
    # with the member's chain, the record is found there and checked
    assert statuses(bare, chains={alice.did: alice.chain})["record"] == OK


def test_a_changed_value_breaks_the_proof(field_vc: dict[str, Any]) -> None:
    doc = copy.deepcopy(field_vc)
    doc["credentialSubject"]["value"] = ["bikes", "rust", "go"]
    refused(doc, "proof", "does not verify")


def test_a_value_resigned_by_the_member_does_not_open_the_commitment(
        alice: Wallet, field_vc: dict[str, Any]) -> None:
    doc = resigned(field_vc, lambda d: d["credentialSubject"].update(value=["surgery"]),
                   alice.author.signing_key)
    refused(doc, "commitment", "not the commitment")


def test_a_new_commitment_for_a_false_value_is_not_the_records(
        alice: Wallet, field_vc: dict[str, Any]) -> None:
    salt = b"\x01" * 16

    def lie(d: dict[str, Any]) -> None:
        d["credentialSubject"].update(value=["surgery"], salt=b64url_encode(salt),
                                      commitment=commitment(["surgery"], salt))

    refused(resigned(field_vc, lie, alice.author.signing_key), "record",
            "commits to another value")


def test_the_record_of_another_field_is_refused(alice: Wallet,
                                                field_vc: dict[str, Any]) -> None:
    doc = resigned(field_vc, lambda d: d["credentialSubject"].update(field="city"),
                   alice.author.signing_key)
    refused(doc, "record", "sets 'expertise', not 'city'")


def test_an_altered_inclusion_proof_is_refused(alice: Wallet,
                                               field_vc: dict[str, Any]) -> None:
    def bump(d: dict[str, Any]) -> None:
        d["credentialSubject"]["logIndex"] += 1

    refused(resigned(field_vc, bump, alice.author.signing_key), "inclusion", "not at index")


def test_a_checkpoint_under_another_log_key_is_refused(field_vc: dict[str, Any]) -> None:
    other = bytes(keys.generate().verify_key)
    refused(field_vc, "checkpoint", "no signature", log_key=other)


def test_a_credential_signed_by_someone_else_is_refused(field_vc: dict[str, Any]) -> None:
    doc = resigned(field_vc, lambda d: None, keys.generate())
    refused(doc, "key", "other than the member's did key")


def test_an_issuer_other_than_the_subject_is_refused(alice: Wallet,
                                                     field_vc: dict[str, Any]) -> None:
    other = keys.generate()
    doc = resigned(field_vc, lambda d: d.update(issuer=keys.did_of(other)), other)
    refused(doc, "format", "credentialSubject.id is not the issuer")


def test_a_superseded_value_is_refused_given_the_chain(alice: Wallet) -> None:
    old = vc_present.present_field(alice, "city", with_proof=True)
    alice.set("city", "Amsterdam")
    assert statuses(old)["record"] == OK  # without the chain, a past value still verifies
    refused(old, "record", "superseded", chains={alice.did: alice.chain})


def test_after_rotation_the_key_must_be_shown_in_force_by_the_chain(
        make_wallet: MakeWallet) -> None:
    bob = make_wallet("member")
    bob.set("city", "Delft")
    bob.rotate()
    bob.set("activity", "rotating keys")
    bob.sync()
    new_key = bob.author.signing_key
    assert bytes(new_key.verify_key) != keys.public_key_from_did(bob.did)
    old_value = vc_present.present_field(bob, "city", with_proof=True)
    new_value = vc_present.present_field(bob, "activity", with_proof=True)
    assert old_value["proof"]["verificationMethod"] == vc.verification_method(
        bytes(new_key.verify_key))
    # signed by the rotated key, the credential carries the chain that shows the key in force
    assert len(old_value["credentialSubject"]["memberChain"]) == len(bob.chain)
    assert set(statuses(old_value, log_key=log_key(bob)).values()) == {OK}
    assert set(statuses(new_value, log_key=log_key(bob)).values()) == {OK}

    def without_chain(d: dict[str, Any]) -> None:
        del d["credentialSubject"]["memberChain"]

    bare = resigned(old_value, without_chain, new_key)
    refused(bare, "key", "give the member's chain")
    assert statuses(bare, chains={bob.did: bob.chain})["key"] == OK
    checks = statuses(new_value, chains={bob.did: bob.chain}, log_key=log_key(bob))
    assert set(checks.values()) == {OK}
    # a credential signed with the key rotated away is refused once the chain is known
    stale = resigned(bare, lambda d: None, bob.store.signing_keys[0])
    assert statuses(stale)["key"] == OK  # the did key, taken at its word without a chain
    refused(stale, "key", "not in force", chains={bob.did: bob.chain})
    # ... and when it carries the chain itself, which shows the rotation away from that key
    short = resigned(stale, lambda d: d["credentialSubject"].update(memberChain=[
        r.raw.decode() for r in bob.chain]), bob.store.signing_keys[0])
    refused(short, "key", "not in force")
    # a carried chain with another party's record is refused
    alien = resigned(old_value, lambda d: d["credentialSubject"]["memberChain"].append(
        d["credentialSubject"]["recordText"].replace(bob.did, "did:key:z6Mk")), new_key)
    refused(alien, "key", "the member's chain it carries")


# --- attestations -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attested(make_wallet: MakeWallet, alice: Wallet) -> tuple[Wallet, str]:
    desk = make_wallet("space")
    record = attest(desk, alice.did, {"kind": "presence", "space": "Utrecht Centraal"})
    alice.sync()
    return desk, record.id


@pytest.fixture(scope="module")
def attestation_vc(alice: Wallet, attested: tuple[Wallet, str]) -> dict[str, Any]:
    return vc_present.present_attestation(alice, attested[1], with_proof=True)


def test_attestation_credential_has_the_documented_form(
        alice: Wallet, attested: tuple[Wallet, str], attestation_vc: dict[str, Any]) -> None:
    desk, attestation_id = attested
    assert attestation_vc["type"] == ["VerifiableCredential", ATTESTATION_CREDENTIAL]
    assert attestation_vc["issuer"] == alice.did
    subject = attestation_vc["credentialSubject"]
    assert subject["attestation"] == attestation_id and subject["attester"] == desk.did
    assert subject["claim"] == {"kind": "presence", "space": "Utrecht Centraal"}
    assert json.loads(subject["recordText"])["body"]["claim"]["sealed"]["ct"]
    assert len(subject["contentKey"]) == 43  # 32 bytes in base64url


def test_attestation_credential_verifies_every_check(alice: Wallet,
                                                     attestation_vc: dict[str, Any]) -> None:
    result = verify_presentation(attestation_vc, log_key=log_key(alice))
    assert result.kind == ATTESTATION_CREDENTIAL
    assert {c.name: c.status for c in result.checks} == {
        "format": OK, "proof": OK, "key": OK, "record": OK, "claim": OK, "inclusion": OK,
        "checkpoint": OK}


def test_a_claim_other_than_the_sealed_one_is_refused(alice: Wallet,
                                                      attestation_vc: dict[str, Any]) -> None:
    doc = resigned(attestation_vc, lambda d: d["credentialSubject"].update(
        claim={"kind": "presence", "space": "the White House"}), alice.author.signing_key)
    refused(doc, "claim", "not the claim the attester sealed")


def test_a_wrong_content_key_is_refused(alice: Wallet, attestation_vc: dict[str, Any]) -> None:
    doc = resigned(attestation_vc, lambda d: d["credentialSubject"].update(
        contentKey=b64url_encode(b"\x07" * 32)), alice.author.signing_key)
    refused(doc, "claim", "does not decrypt")


def test_an_altered_attester_record_is_refused(alice: Wallet,
                                               attestation_vc: dict[str, Any]) -> None:
    def alter(d: dict[str, Any]) -> None:
        subject = d["credentialSubject"]
        record = json.loads(subject["recordText"])
        record["body"]["subject"] = keys.did_of(keys.generate())
        subject["recordText"] = canonical(record).decode()

    refused(resigned(attestation_vc, alter, alice.author.signing_key), "record",
            "recordText is record sha256:[0-9a-f]+, not")


def test_a_record_forged_in_the_attesters_name_is_refused(
        alice: Wallet, attested: tuple[Wallet, str], attestation_vc: dict[str, Any]) -> None:
    desk, _ = attested
    real = json.loads(attestation_vc["credentialSubject"]["recordText"])
    forged = sign_record(alice.author.signing_key, author=desk.did, seq=real["seq"],
                         prev=real["prev"], record_type="attest", body=real["body"],
                         ts=real["ts"])

    def swap(d: dict[str, Any]) -> None:
        d["credentialSubject"].update(recordText=forged.raw.decode(), attestation=forged.id)
        for k in ("logIndex", "inclusionProof", "checkpoint"):
            d["credentialSubject"].pop(k)

    refused(resigned(attestation_vc, swap, alice.author.signing_key), "record",
            "does not verify under the attester's did key")


def test_an_attestation_about_someone_else_is_refused(
        make_wallet: MakeWallet, alice: Wallet, attestation_vc: dict[str, Any]) -> None:
    carol = make_wallet("member")
    doc = resigned(attestation_vc, lambda d: (d.update(issuer=carol.did),
                                              d["credentialSubject"].update(id=carol.did)),
                   carol.author.signing_key)
    refused(doc, "record", "not the member")


def test_only_attestations_about_the_member_can_be_presented(
        alice: Wallet, attested: tuple[Wallet, str]) -> None:
    desk, attestation_id = attested
    with pytest.raises(UsageError, match="not an attestation about you"):
        vc_present.present_attestation(desk, attestation_id)
    first = alice.chain[0].id
    with pytest.raises(UsageError, match="not an attestation about you"):
        vc_present.present_attestation(alice, first)
