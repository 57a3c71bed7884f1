"""Scoped reads: what a service may read of a member's passport, and the receipt it leaves.

The decision is ``ledger.consent.authorize``; this module fetches what it allows, proves it
against the latest signed tree head, and writes the node-signed receipt before anything is
served, so no read goes unrecorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger import consent, keys
from ledger.encoding import b64url_encode, canonical
from ledger.records import record_id
from ledger.store.access import AccessStore
from ledger.store.ledger import Ledger, SignedTreeHead
from ledger.times import format_ts
from passport_api.errors import Forbidden

RECEIPT_DOMAIN = keys.RECEIPT_DOMAIN


@dataclass(frozen=True)
class ServedField:
    field: str
    grant: str
    index: int
    record: bytes
    blob: bytes
    wrapped_key: str
    inclusion: list[bytes]


@dataclass(frozen=True)
class ServedRead:
    member: str
    tree_head: SignedTreeHead
    fields: list[ServedField]
    receipt_id: int
    receipt: bytes
    node_sig: bytes


def scoped_read(ledger: Ledger, access: AccessStore, *, service: str, member: str,
                fields: list[str], request: dict[str, Any], now_ms: int) -> ServedRead:
    """Serve every field or none: a refused field makes the whole read a 403 with reasons."""
    stored = ledger.records_of(member, consent.CONSENT_TYPES)
    view = consent.PassportView.from_records([s.record for s in stored], member=member)
    plan = consent.authorize(view, service, fields, now_ms)
    if plan.refused:
        reasons = {r.field: {"reason": str(r.reason), "detail": r.message} for r in plan.refused}
        raise Forbidden("the member has not granted this service every field "
                       f"asked for: {', '.join(sorted(reasons))}", fields=reasons)
    index_of = {s.record.id: s.index for s in stored}
    head = ledger.latest_tree_head()
    served = []
    for allowed in plan.allowed:
        rec = allowed.record
        index = index_of[rec.id]
        served.append(ServedField(
            field=allowed.field, grant=allowed.grant_id, index=index, record=rec.raw,
            blob=ledger.blob(rec.body["blob"]), wrapped_key=allowed.wrapped_key,
            inclusion=ledger.inclusion_proof(index, head.head.size)))
    receipt = canonical({
        "v": 1, "type": "passport.receipt", "member": member, "service": service,
        "served": format_ts(now_ms),
        "fields": [{"field": f.field, "grant": f.grant, "record": record_id(f.record)}
                   for f in served],
        "log": {"origin": head.head.origin, "size": head.head.size},
        "request": request,
    })
    node_sig = ledger.sign_statement(RECEIPT_DOMAIN, receipt)
    receipt_id = access.add_receipt(member, service, now_ms, receipt, node_sig,
                                    sign=ledger.sign_statement)
    return ServedRead(member, head, served, receipt_id, receipt, node_sig)


def receipt_json(receipt_id: int, receipt: bytes, node_sig: bytes) -> dict[str, Any]:
    return {"id": receipt_id, "receipt": receipt.decode("utf-8"),
            "node_sig": b64url_encode(node_sig)}
