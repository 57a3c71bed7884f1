"""Attestations (DESIGN §3, §7): one party states something about another; the subject may
accept it into their passport.

The claim is sealed in an envelope (``wallet.envelope``) to the subject and to the attester,
so the node, and anyone reading the ledger, sees who attested whom and when, never what.
The subject finds attestations about them (by did, or by the blinded subject of a desk's
presence attestation, ``wallet.checkin.presence_subject``) through the node's
``GET /v1/members/{did}/attestations``; each is checked here against its author's chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger import keys
from ledger.bodies import DIGEST_RE
from ledger.chain import validate_chain
from ledger.errors import KeyFormatError, LedgerError
from ledger.records import Record
from passport_api.client import NodeNotFoundError
from wallet.checkin import my_presence_subjects
from wallet.envelope import open_envelope, seal_envelope
from wallet.errors import EnvelopeError, UntrustedNodeError, UsageError
from wallet.keeper import talking_to
from wallet.wallet import Wallet


@dataclass(frozen=True)
class Attestation:
    id: str
    attester: str
    ts: str
    claim: dict[str, Any] | None  # None when it cannot be opened with this wallet's keys
    about: str | None
    accepted: bool

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "attester": self.attester, "ts": self.ts, "claim": self.claim,
                "about": self.about, "accepted": self.accepted}


def parse_claim(text: str) -> dict[str, Any]:
    """A claim given on the command line: a JSON object."""
    try:
        claim = json.loads(text)
    except ValueError as e:
        raise UsageError(f"--claim is not JSON ({e}); give an object like "
                         "'{\"kind\": \"presence\"}'") from None
    if not isinstance(claim, dict):
        raise UsageError("--claim must be a JSON object, like '{\"kind\": \"presence\"}'")
    return claim


def attest(wallet: Wallet, subject: str, claim: dict[str, Any],
           about: str | None = None) -> Record:
    """Append an ``attest`` about ``subject`` whose claim only the two parties can open."""
    try:
        keys.public_key_from_did(subject)
    except KeyFormatError as e:
        raise UsageError(f"{subject[:80]!r}: {e}") from None
    if subject == wallet.did:
        raise UsageError("you cannot attest about yourself")
    if about is not None and not DIGEST_RE.fullmatch(about):
        raise UsageError(f"--about {about[:80]!r} is not a record id (sha256:<64 hex>)")
    recipients = [wallet.encryption_key(subject), wallet.encryption_key(wallet.did)]
    body: dict[str, Any] = {"subject": subject,
                            "claim": {"sealed": seal_envelope(claim, recipients)}}
    if about is not None:
        body["about"] = about
    return wallet.write("attest", body)


def my_subjects(wallet: Wallet) -> set[str]:
    """What attestations about this member name as subject: their did, or the blinded subject
    of a desk's presence attestation for one of their check-ins (``wallet.checkin``)."""
    return {wallet.did, *my_presence_subjects(wallet)}


def accepted_ids(wallet: Wallet) -> dict[str, str]:
    """Attestation id -> id of the member's ``attest.accept`` naming it, from their chain."""
    return {r.body["attestation"]: r.id for r in wallet.chain if r.type == "attest.accept"}


def attestations(wallet: Wallet) -> list[Attestation]:
    """Every attestation about the member, each checked against its author's chain, opened."""
    subjects = my_subjects(wallet)
    with talking_to(wallet.node):
        found = [a.record for subject in sorted(subjects)
                 for a in wallet.client.attestations(subject)]
    chains: dict[str, set[str]] = {}
    accepted = accepted_ids(wallet)
    out = []
    for record in found:
        if record.type != "attest" or record.body.get("subject") not in subjects:
            raise UntrustedNodeError(f"the node listed {record.id} as an attestation about you; "
                                "it is not")
        if record.author not in chains:
            chains[record.author] = _ids_of_chain(wallet, record.author)
        if record.id not in chains[record.author]:
            raise UntrustedNodeError(f"attestation {record.id} is not on its author's chain")
        out.append(Attestation(id=record.id, attester=record.author, ts=record.ts,
                               claim=_open(wallet, record), about=record.body.get("about"),
                               accepted=record.id in accepted))
    return out


def _ids_of_chain(wallet: Wallet, author: str) -> set[str]:
    records = wallet.chain_of(author)
    try:
        validate_chain(records)
    except LedgerError as e:
        raise UntrustedNodeError(f"the chain of attester {author} does not verify: {e}") from None
    return {r.id for r in records}


def _open(wallet: Wallet, record: Record) -> dict[str, Any] | None:
    claim: dict[str, Any] = record.body["claim"]
    if set(claim) != {"sealed"}:
        return claim  # written in clear by another client: nothing to open
    try:
        return open_envelope(claim["sealed"], list(reversed(wallet.store.signing_keys)))
    except EnvelopeError:
        return None


def accept(wallet: Wallet, attestation_id: str) -> Record:
    """Append ``attest.accept`` for an attestation about the member, not yet accepted."""
    if not DIGEST_RE.fullmatch(attestation_id):
        raise UsageError(f"{attestation_id[:80]!r} is not a record id (sha256:<64 hex>)")
    with talking_to(wallet.node):
        try:
            record = wallet.client.record(attestation_id).record
        except NodeNotFoundError:
            raise UsageError(f"no record {attestation_id} on this node") from None
    if record.id != attestation_id:
        raise UntrustedNodeError(f"the node served another record for {attestation_id}")
    if record.type != "attest" or record.body["subject"] not in my_subjects(wallet):
        raise UsageError(f"{attestation_id} is not an attestation about you "
                         "(see 'passport attestations')")
    already = accepted_ids(wallet).get(attestation_id)
    if already is not None:
        raise UsageError(f"you already accepted {attestation_id} (in your record {already})")
    return wallet.write("attest.accept", {"attestation": attestation_id})
