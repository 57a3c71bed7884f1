"""How a member lets another reach them: the wallet's contact policy.

Reaching someone goes only through grants: accepting a ride, asking for or accepting an
introduction grants the member's ``contact`` field to the other party for ``CONTACT_DAYS``; a
live grant of ``contact`` to the same party is reused rather than duplicated.  Leaving a service
revokes every live grant to it (``wallet.grants.leave``).
"""

from __future__ import annotations

from typing import Any

from ledger import consent, keys
from ledger.errors import KeyFormatError
from ledger.times import now_ms
from wallet.errors import NodeRefused, UsageError
from wallet.wallet import Wallet

CONTACT_FIELD = "contact"
CONTACT_DAYS = 14
DAY_MS = 86_400_000


def live_contact_grant(wallet: Wallet, to: str, now: int) -> str | None:
    for g in consent.live_grants(wallet.view(), now, to):
        if CONTACT_FIELD in g.fields:
            return g.grant_id
    return None


def grant_contact(wallet: Wallet, to: str, purpose: str, *, now: int | None = None) -> str:
    """Grant ``contact`` to ``to`` for 14 days (or reuse a live such grant); its id.

    ``UsageError`` before anything is written if the member has no contact to share.
    """
    now = now_ms() if now is None else now
    try:
        keys.public_key_from_did(to)
    except KeyFormatError as e:
        raise UsageError(f"{to[:80]!r}: {e}") from None
    if wallet.view().value(CONTACT_FIELD) is None:
        raise UsageError("set how people can reach you first, e.g. "
                         "passport set contact 'you@example.org'")
    found = live_contact_grant(wallet, to, now)
    if found is not None:
        return found
    return wallet.grant(to, [CONTACT_FIELD], purpose, now + CONTACT_DAYS * DAY_MS)


def contact_of(wallet: Wallet, other: str) -> Any | None:
    """``other``'s contact, read on the node through their grant to this member (a receipt on
    their side), or None while they have not granted it."""
    try:
        read = wallet.read(other, [CONTACT_FIELD])
    except NodeRefused:
        return None
    field = read["fields"].get(CONTACT_FIELD)
    return None if field is None else field["value"]
