"""Consent rules a member acts on: who reads each field now, and leaving a service.

The CLI and the web pages call these; they hold no consent logic of their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger import consent
from ledger.times import now_ms
from wallet.wallet import Wallet


def readers_by_field(view: consent.PassportView, fields: Iterable[str], now: int
                     ) -> dict[str, list[str]]:
    """Each field's live grantees, one per live grant (sorted): who reads it now."""
    live = consent.live_grants(view, now)
    return {f: sorted(g.grantee for g in live if g.covers(f)) for f in fields}


def leave(wallet: Wallet, grantee: str) -> list[str]:
    """Revoke every live grant to ``grantee`` (the leave policy: all of them, not only the
    last); the ids revoked, in the order granted."""
    revoked = [g.grant_id for g in consent.live_grants(wallet.view(), now_ms(), grantee)]
    for gid in revoked:
        wallet.revoke(gid)
    return revoked
