"""Check-in at a space's desk (DESIGN §7), from both sides.

The desk asks the node for a single-use challenge and shows it as one token.  The member's
wallet appends a ``checkin`` record whose clear part is only the hash of the challenge nonce;
the space and the nonce travel in an envelope sealed to the space and the member, so the
ledger does not say where a member checked in.  The wallet then reports the record as the
challenge's answer (first answer wins).  The desk lists its answered challenges, verifies each
check-in (signature on the member's chain, inclusion in a signed tree head, the envelope naming
this space and nonce), reads the fields the member granted to the space, and attests presence
with a claim sealed to the member and the space.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ledger import consent, merkle
from ledger.chain import validate_chain
from ledger.checkpoint import parse_checkpoint
from ledger.encoding import b64url_decode, b64url_encode, canonical, sha256_name
from ledger.errors import LedgerError
from ledger.records import Record, parse_record
from ledger.times import now_ms
from passport_api.client import NodeClient, NodeError, NodeUnreachableError
from wallet.envelope import open_envelope, seal_envelope
from wallet.errors import UnreachableNodeError, UntrustedNodeError, UsageError
from wallet.keeper import talking_to
from wallet.keystore import write_private
from wallet.wallet import Wallet

CHALLENGE_PREFIX = "passport-checkin:"
DESK_FILE = "desk.json"
PRESENCE_DOMAIN = b"passport/presence/v1\0"


@dataclass(frozen=True)
class Challenge:
    space: str
    nonce: str
    expires_ms: int
    node: str | None = None  # the desk's node, when it is not the member's (federation)

    def token(self) -> str:
        fields: dict[str, Any] = {"v": 1, "space": self.space, "nonce": self.nonce,
                                  "expires_ms": self.expires_ms}
        if self.node:
            fields["node"] = self.node
        return CHALLENGE_PREFIX + b64url_encode(canonical(fields))

    @classmethod
    def from_token(cls, token: str) -> Challenge:
        text = token.strip()
        if not text.startswith(CHALLENGE_PREFIX):
            raise UsageError(f"not a check-in challenge (it should start with {CHALLENGE_PREFIX})")
        try:
            data = json.loads(b64url_decode(text[len(CHALLENGE_PREFIX):], what="challenge"))
            node = data.get("node")
            return cls(str(data["space"]), str(data["nonce"]), int(data["expires_ms"]),
                       None if node is None else str(node))
        except (LedgerError, ValueError, KeyError, TypeError):
            raise UsageError("the check-in challenge is damaged; ask the desk for a new one"
                             ) from None


def nonce_hash(nonce: str) -> str:
    return sha256_name(nonce.encode())


def presence_subject(member: str, nonce: str) -> str:
    """The blinded subject of a desk's presence attestation: only the member and the space know
    the challenge's nonce (it travels sealed), so nobody else can tell whom it is about."""
    return sha256_name(PRESENCE_DOMAIN + member.encode() + b"\0" + nonce.encode())


def my_presence_subjects(member: Wallet) -> list[str]:
    """The blinded subjects of the presence attestations about this member: one per check-in
    on their chain whose envelope their keys open."""
    found = []
    for rec in member.chain:
        if rec.type != "checkin":
            continue
        try:
            sealed = open_envelope(rec.body["sealed"], list(reversed(member.store.signing_keys)))
        except LedgerError:
            continue
        found.append(presence_subject(member.did, str(sealed.get("nonce"))))
    return found


def issue(desk: Wallet) -> Challenge:
    with talking_to(desk.node):
        out = desk.client.checkin_challenge()
    return Challenge(out["space"], out["nonce"], int(out["expires_ms"]), desk.node)


def check_in(member: Wallet, token: str, *, wait_s: float = 30.0) -> Record:
    """Append the check-in on the member's node, and report it to the desk's node.

    When the desk runs on another node (federation), that node must first pull the record
    from the member's node; the wallet waits up to ``wait_s`` for it.
    """
    challenge = Challenge.from_token(token)
    if challenge.expires_ms <= now_ms():
        raise UsageError("this check-in challenge has expired; ask the desk for a new one")
    desk_node = (challenge.node or member.node).rstrip("/")
    desk = NodeClient(desk_node)
    with talking_to(desk_node):
        try:
            status = desk.checkin_status(nonce_hash(challenge.nonce))
        except NodeUnreachableError:
            raise
        except NodeError as e:
            raise UsageError(f"the desk's node cannot check this challenge "
                             f"(HTTP {e.status})") from None
        if not status["open"]:
            raise UsageError(f"cannot check in: {status['reason']}; ask the desk for a "
                             "new one")
        envelope = seal_envelope({"space": challenge.space, "nonce": challenge.nonce},
                                 [member.encryption_key(challenge.space),
                                  member.encryption_key(member.did)])
        record = member.write("checkin", {"nonce_hash": nonce_hash(challenge.nonce),
                                          "sealed": envelope})
        if desk_node != member.node.rstrip("/"):
            _wait_for(desk, record.id, desk_node, wait_s)
        try:
            desk.checkin_answer(record.id)
        except NodeUnreachableError:
            raise
        except NodeError as e:
            raise UsageError(f"the desk's node refused the check-in: {e.detail}") from None
    return record


def _wait_for(desk: NodeClient, record_id: str, where: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if desk.has_record(record_id):
            return
        time.sleep(0.2)
    raise UsageError(f"the desk's node {where} has not received your check-in from your node "
                     f"after {wait_s:.0f} s (does it follow your node?); run the command again "
                     "later to report it")


def _desk_state(desk: Wallet) -> dict[str, Any]:
    path = desk.home / DESK_FILE
    if not path.exists():
        return {"attested": {}}
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def _verified_checkin(desk: Wallet, record_id: str) -> tuple[Record, str]:
    """The check-in, checked here: in the signed log, on the member's chain, for this desk;
    with the challenge's nonce it answers (from the envelope)."""
    with talking_to(desk.node):
        out = desk.client.checkin_verify(record_id)
    rec = parse_record(out["record"]["record"].encode())
    key = desk.state.verify_key()
    if key is None:
        raise UntrustedNodeError("no pinned log key: run 'passport sync' first")
    try:
        head = parse_checkpoint(out["tree_head"]["checkpoint"].encode(), key)
        merkle.verify_inclusion(merkle.leaf_hash(rec.raw), out["record"]["index"], head.size,
                                [b64url_decode(h) for h in out["inclusion"]], head.root)
    except LedgerError as e:
        raise UntrustedNodeError(f"check-in {record_id} is not proven in the node's log: {e}"
                            ) from None
    chain = [r for r in desk.chain_of(rec.author) if r.seq <= rec.seq]
    if validate_chain(chain).head != rec.id:
        raise UntrustedNodeError(f"check-in {record_id} is not on {rec.author}'s chain")
    sealed = open_envelope(rec.body["sealed"], desk.store.signing_keys)
    if sealed.get("space") != desk.did or nonce_hash(str(sealed.get("nonce"))) != rec.body[
            "nonce_hash"]:
        raise UntrustedNodeError(f"check-in {record_id} was not made for this desk's challenge")
    return rec, str(sealed["nonce"])


def desk_verify(desk: Wallet, since_ms: int,
                known: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every check-in answering this space's challenges since ``since_ms``, each verified on
    its own, with the fields each member granted to the space, attested once each.

    A check-in that fails is listed beside the others with ``refused`` (the reason) and never
    stops them: nothing a member writes (a grant of a field never set, a damaged envelope, a
    broken chain) may stop a desk verifying anyone else.  Only an unreachable node stops it.

    ``known`` (check-in id -> what this returned for it before) lets a long-running desk skip
    check-ins it already verified: each scoped read leaves a receipt with the member, so a
    kiosk that refreshes must not read again what it already showed.  Refusals are not kept
    there: a check-in not yet proven (a federated node still pulling it) is tried again.
    """
    with talking_to(desk.node):
        listed = desk.client.checkin_challenges(since_ms)
    state = _desk_state(desk)
    seen = []
    for challenge in listed:
        record_id = challenge["answered_by"]
        if record_id is None:
            continue
        if known is not None and record_id in known:
            seen.append(known[record_id])
            continue
        try:
            entry = _verify_one(desk, record_id, state)
        except UnreachableNodeError:
            raise
        except (LedgerError, KeyError, TypeError, ValueError, AttributeError) as e:
            seen.append({"checkin": record_id, "refused": _reason(e)})
            continue
        seen.append(entry)
        if known is not None:
            known[record_id] = entry
    return seen


SEEN_FILE = "desk-seen.json"


def load_seen(desk: Wallet) -> dict[str, dict[str, Any]]:
    """What this desk showed of each check-in it verified before (kept on the desk's machine,
    mode 0600), so a later ``desk verify`` does not read, and leave a receipt, again."""
    path = desk.home / SEEN_FILE
    if not path.exists():
        return {}
    seen: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return seen


def save_seen(desk: Wallet, known: dict[str, dict[str, Any]]) -> None:
    write_private(desk.home / SEEN_FILE, json.dumps(known, indent=1).encode())


def _reason(error: Exception) -> str:
    if isinstance(error, LedgerError):
        return str(error)
    return f"malformed check-in ({type(error).__name__}: {error})"


def _verify_one(desk: Wallet, record_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """One check-in: verified, its readable granted fields read, presence attested once."""
    rec, nonce = _verified_checkin(desk, record_id)
    view = consent.PassportView.from_records(desk.chain_of(rec.author), member=rec.author)
    now = now_ms()
    granted = sorted({f for g in consent.live_grants(view, now, desk.did) for f in g.fields})
    plan = consent.authorize(view, desk.did, granted, now)
    # A field the node would refuse (granted but never set, or not wrapped to the desk) is
    # named, not asked for: one such field would make the node refuse the whole read.
    unreadable = {r.field: r.message for r in plan.refused}
    fields: dict[str, Any] = {}
    if plan.allowed:
        fields = desk.read(rec.author, [a.field for a in plan.allowed])["fields"]
    if record_id not in state["attested"]:
        # The subject is blinded and the check-in named only inside the sealed claim: a public
        # reader sees that this space attested someone, never whom, nor which check-in.
        claim = seal_envelope({"type": "presence", "space": desk.did, "member": rec.author,
                               "checkin": rec.id, "at": rec.ts},
                              [desk.encryption_key(rec.author), desk.encryption_key(desk.did)])
        attest = desk.write("attest", {"subject": presence_subject(rec.author, nonce),
                                       "claim": {"sealed": claim}})
        state["attested"][record_id] = attest.id
        write_private(desk.home / DESK_FILE, json.dumps(state, indent=1).encode())
    entry = {"member": rec.author, "checkin": rec.id, "at": rec.ts,
             "attestation": state["attested"][record_id],
             "fields": {n: v["value"] for n, v in fields.items()}}
    if unreadable:
        entry["unreadable"] = unreadable
    return entry
