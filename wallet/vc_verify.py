"""Checking a presented Passport credential offline (``wallet.vc_credentials`` are the
formats): the shape, the Data Integrity proof, the holder's key in force, the commitment, the
record and its signature, and, when the presentation carries them, the inclusion proof and the
node's checkpoint.

``verify_presentation`` runs every check it can, in order, and raises ``PresentationInvalidError``
naming the first that fails; a check it cannot make (no log key, no chain) is reported as not
checked, never as passed.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.signing

from ledger import keys, merkle
from ledger.chain import ChainState, validate_chain
from ledger.checkpoint import TreeHead, _parse_body, _split_note, parse_checkpoint
from ledger.encoding import b64url_decode, canonical
from ledger.errors import LedgerError
from ledger.records import Record, parse_record, signer_of
from ledger.seal import commitment
from ledger.times import parse_ts
from wallet import vc
from wallet.errors import PresentationInvalidError
from wallet.vc_credentials import (
    ATTESTATION_CREDENTIAL,
    FIELD_CREDENTIAL,
    LEDGER_KEYS,
    VC_CONTEXT,
    VERIFIABLE_CREDENTIAL,
    open_envelope_with,
)

OK, NOT_CHECKED = "ok", "not checked"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK or NOT_CHECKED
    detail: str

    def json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Verified:
    kind: str  # FIELD_CREDENTIAL or ATTESTATION_CREDENTIAL
    member: str
    checks: list[Check]
    subject: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return {"ok": True, "kind": self.kind, "member": self.member,
                "checks": [c.json() for c in self.checks]}


def embedded_chain(member: str, subject: Mapping[str, Any]) -> list[Record] | None:
    """The chain a presentation carries (``memberChain``), parsed; None when it has none."""
    texts = subject.get("memberChain")
    if texts is None:
        return None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise PresentationInvalidError("format", "credentialSubject.memberChain is not a list of "
                                  "records")
    try:
        records = [parse_record(t.encode("utf-8")) for t in texts]
    except LedgerError as e:
        raise PresentationInvalidError("key", f"the member's chain it carries: {e}") from None
    if any(r.author != member for r in records):
        raise PresentationInvalidError("key", "the chain it carries holds another's records")
    return records


def _need(subject: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = subject.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise PresentationInvalidError(
            "format", f"credentialSubject.{name} is missing or malformed")
    return value


def _shape(doc: Any) -> tuple[str, str, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise PresentationInvalidError("format", "a presentation is a JSON object")
    context = doc.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_CONTEXT:
        raise PresentationInvalidError("format", f"@context must start with {VC_CONTEXT}")
    types = doc.get("type")
    kinds = [t for t in types or [] if t in (FIELD_CREDENTIAL, ATTESTATION_CREDENTIAL)] \
        if isinstance(types, list) else []
    if not isinstance(types, list) or VERIFIABLE_CREDENTIAL not in types or len(kinds) != 1:
        raise PresentationInvalidError("format", f"type must be [{VERIFIABLE_CREDENTIAL}, "
                                  f"{FIELD_CREDENTIAL} or {ATTESTATION_CREDENTIAL}]")
    member = doc.get("issuer")
    try:
        keys.public_key_from_did(member if isinstance(member, str) else "")
    except LedgerError:
        raise PresentationInvalidError("format", "issuer is not the member's did:key") from None
    subject = doc.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("id") != member:
        raise PresentationInvalidError("format", "credentialSubject.id is not the issuer (the "
                                  "member presents about themselves)")
    valid_from = doc.get("validFrom")
    try:
        parse_ts(valid_from if isinstance(valid_from, str) else "")
    except LedgerError:
        raise PresentationInvalidError("format", "validFrom is not an RFC 3339 UTC time") from None
    return str(kinds[0]), str(member), subject


def _chain_state(did: str, chains: Mapping[str, Sequence[Record]]) -> tuple[ChainState, set[str]]:
    records = chains[did]
    if any(r.author != did for r in records):
        raise PresentationInvalidError("key", f"the chain given for {did} holds another's records")
    try:
        return validate_chain(records), {r.id for r in records}
    except LedgerError as e:
        raise PresentationInvalidError("key", f"the chain given for {did} does not verify: "
                                  f"{e}") from None


def _check_holder_key(member: str, proof_key: bytes, chains: Mapping[str, Sequence[Record]]
                      ) -> Check:
    if member in chains:
        state, _ = _chain_state(member, chains)
        live = [e.key for e in state.epochs if e.last_seq is None]
        if proof_key not in live:
            raise PresentationInvalidError("key", "the proof's key is not in force on the member's "
                                      f"chain at seq {state.seq} (rotated away or removed)")
        return Check("key", OK, f"the proof's key is in force on the member's chain at seq "
                     f"{state.seq}")
    if proof_key != keys.public_key_from_did(member):
        raise PresentationInvalidError("key", "the proof is by a key other than the member's did "
                                  "key (the member rotated keys?): give the member's chain to "
                                  "check it is in force")
    return Check("key", OK, "the proof's key is the member's did key (no chain given: a "
                 "rotation away from it is not detected)")


def _check_record_signature(record: Record, chains: Mapping[str, Sequence[Record]],
                            who: str) -> str:
    if record.author in chains:
        _, ids = _chain_state(record.author, chains)
        if record.id not in ids:
            raise PresentationInvalidError("record", f"{record.id} is not on the {who}'s chain")
        return f"on the {who}'s validated chain"
    if signer_of(record, [keys.public_key_from_did(record.author)]) is None:
        raise PresentationInvalidError(
            "record", f"the record's signature does not verify under the "
                                  f"{who}'s did key (altered, or signed after a rotation: give "
                                  f"the {who}'s chain)")
    return f"signed by the {who}'s did key"


def _record(subject: Mapping[str, Any], record_id: str) -> Record:
    text = _need(subject, "recordText", str)
    try:
        record = parse_record(text.encode("utf-8"))
    except LedgerError as e:
        raise PresentationInvalidError("record", f"recordText is not a valid record: {e}") from None
    if record.id != record_id:
        raise PresentationInvalidError(
            "record", f"recordText is record {record.id}, not {record_id}")
    return record


def _check_ledger(subject: Mapping[str, Any], record: Record | None, log_key: bytes | None
                  ) -> list[Check]:
    present = [k for k in LEDGER_KEYS if k in subject]
    if not present:
        return [Check("inclusion", NOT_CHECKED, "no inclusion proof in the presentation"),
                Check("checkpoint", NOT_CHECKED, "no checkpoint in the presentation")]
    if len(present) != len(LEDGER_KEYS) or record is None:
        raise PresentationInvalidError("format", "logIndex, inclusionProof, checkpoint and "
                                  "recordText come together")
    index = _need(subject, "logIndex", int)
    hashes = _need(subject, "inclusionProof", list)
    note = _need(subject, "checkpoint", str).encode("utf-8")
    head: TreeHead
    try:
        if log_key is not None:
            head = parse_checkpoint(note, nacl.signing.VerifyKey(log_key))
            signed = Check("checkpoint", OK, f"signed by the log key {log_key.hex()} "
                           f"({head.origin}, size {head.size})")
        else:
            head = _parse_body(_split_note(note)[0])
            signed = Check("checkpoint", NOT_CHECKED, "its signature is not checked: give the "
                           "log's public key (--log-key) to check it")
    except LedgerError as e:
        raise PresentationInvalidError("checkpoint", str(e)) from None
    try:
        merkle.verify_inclusion(merkle.leaf_hash(record.raw), index, head.size,
                                [b64url_decode(h, what="inclusion hash") for h in hashes],
                                head.root)
    except (LedgerError, TypeError) as e:
        raise PresentationInvalidError("inclusion", f"the record is not at index {index} of the "
                                  f"checkpoint's tree of size {head.size}: {e}") from None
    return [Check("inclusion", OK, f"record at index {index} of the tree of size {head.size}, "
                  f"root {base64.b64encode(head.root).decode()}"), signed]


def _verify_field(member: str, subject: Mapping[str, Any],
                  chains: Mapping[str, Sequence[Record]]) -> tuple[list[Check], Record | None]:
    field = _need(subject, "field", str)
    if "value" not in subject:
        raise PresentationInvalidError("format", "credentialSubject.value is missing")
    committed = _need(subject, "commitment", str)
    record_id = _need(subject, "record", str)
    try:
        salt = b64url_decode(_need(subject, "salt", str), what="salt")
        got = commitment(subject["value"], salt)
    except LedgerError as e:
        raise PresentationInvalidError("commitment", str(e)) from None
    if not hmac.compare_digest(got.encode(), committed.encode()):
        raise PresentationInvalidError("commitment", f"sha256 of the salt and value is {got}, not "
                                  f"the commitment {committed[:80]}")
    checks = [Check("commitment", OK, f"sha256(canonical {{salt, value}}) = {committed}")]
    record: Record | None = None
    if "recordText" in subject:
        record = _record(subject, record_id)
    elif member in chains:
        record = next((r for r in chains[member] if r.id == record_id), None)
        if record is None:
            raise PresentationInvalidError("record", f"{record_id} is not on the member's chain")
    if record is None:
        checks.append(Check("record", NOT_CHECKED, "the record is not included (present with "
                            "--with-proof) and no chain was given"))
        return checks, None
    if record.author != member or record.type != "passport.set":
        raise PresentationInvalidError("record", f"{record.id} is not a passport.set by the member")
    if record.body["field"] != field:
        raise PresentationInvalidError("record", f"{record.id} sets {record.body['field']!r}, not "
                                  f"{field!r}")
    if not hmac.compare_digest(record.body["commitment"].encode(), committed.encode()):
        raise PresentationInvalidError("record", f"{record.id} commits to another value")
    how = _check_record_signature(record, chains, "member")
    if member in chains:
        later = [r for r in chains[member] if r.seq > record.seq
                 and r.type in ("passport.set", "passport.clear") and r.body["field"] == field]
        if later:
            raise PresentationInvalidError("record", f"{field!r} was changed after this value "
                                      f"(record {later[0].id}): the value is superseded")
        how += "; the field's current value on that chain"
    checks.append(Check("record", OK, f"{record.id}: the member's passport.set of {field!r} "
                        f"with this commitment, {how}"))
    return checks, record


def _verify_attestation(member: str, subject: Mapping[str, Any],
                        chains: Mapping[str, Sequence[Record]]) -> tuple[list[Check], Record]:
    record = _record(subject, _need(subject, "attestation", str))
    attester = _need(subject, "attester", str)
    if record.type != "attest" or record.author != attester:
        raise PresentationInvalidError(
            "record", f"{record.id} is not an attest record by {attester}")
    if record.body["subject"] != member:
        raise PresentationInvalidError("record", f"{record.id} is about {record.body['subject']}, "
                                  "not the member")
    if subject.get("attestedAt") != record.ts or subject.get("about") != record.body.get(
            "about"):
        raise PresentationInvalidError("record", "attestedAt or about differ from the record's")
    how = _check_record_signature(record, chains, "attester")
    checks = [Check("record", OK, f"{record.id}: an attest by {attester} about the member, "
                    f"{how}")]
    claim = _need(subject, "claim", dict)
    written = record.body["claim"]
    if set(written) == {"sealed"}:
        try:
            key = b64url_decode(_need(subject, "contentKey", str), what="contentKey")
        except LedgerError as e:
            raise PresentationInvalidError("claim", str(e)) from None
        opened = open_envelope_with(written["sealed"], key)
        detail = "the sealed claim, decrypted with the disclosed content key, is the claim shown"
    else:
        opened = written
        detail = "the claim is in clear in the record and is the claim shown"
    if canonical(opened) != canonical(claim):
        raise PresentationInvalidError(
            "claim", "the claim shown is not the claim the attester sealed")
    checks.append(Check("claim", OK, detail))
    return checks, record


def verify_presentation(doc: Any, *, log_key: bytes | None = None,
                        chains: Mapping[str, Sequence[Record]] | None = None) -> Verified:
    """Check a presentation offline; ``PresentationInvalidError`` names the first check that fails.

    ``log_key`` is the node's log key, to check the checkpoint's signature; ``chains`` maps a
    did to its chain (as obtained from a node or an export the verifier trusts), to check that
    keys are in force after rotations and that a field's value is not superseded.
    """
    given = dict(chains or {})
    kind, member, subject = _shape(doc)
    carried = embedded_chain(member, subject)
    if carried is not None and member not in given:  # a chain passed in wins over its own
        given[member] = carried
    proof = vc.verify_proof(doc)
    checks = [Check("format", OK, f"a Verifiable Credential 2.0, {kind}, issued by the member "
                    "about themselves"),
              Check("proof", OK, f"eddsa-jcs-2022 Data Integrity proof by "
                    f"{proof.verification_method}")]
    checks.append(_check_holder_key(member, proof.public_key, given))
    if kind == FIELD_CREDENTIAL:
        found, record = _verify_field(member, subject, given)
    else:
        found, record = _verify_attestation(member, subject, given)
    checks.extend(found)
    checks.extend(_check_ledger(subject, record, log_key))
    return Verified(kind=kind, member=member, checks=checks, subject=dict(subject))
