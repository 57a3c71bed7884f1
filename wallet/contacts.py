"""How a member lets another reach them, and grants that are reused rather than duplicated.

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
from wallet.errors import NodeRefusedError, UsageError
from wallet.wallet import Wallet

CONTACT_FIELD = "contact"
CONTACT_DAYS = 14
DAY_MS = 86_400_000


def grant_once(wallet: Wallet, grantee: str, fields: list[str], purpose: str,
               expires_ms: int, *, now: int | None = None) -> tuple[str, bool]:
    """A live grant to ``grantee`` covering ``fields``: an existing one is reused rather than
    duplicated (joining twice, accepting a second ride from the same driver).  Its id, and
    whether it was written now."""
    now = now_ms() if now is None else now
    for g in consent.live_grants(wallet.view(), now, grantee):
        if set(fields) <= set(g.fields):
            return g.grant_id, False
    return wallet.grant(grantee, fields, purpose, expires_ms), True


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
    return grant_once(wallet, to, [CONTACT_FIELD], purpose, now + CONTACT_DAYS * DAY_MS,
                      now=now)[0]


def contact_of(wallet: Wallet, other: str) -> Any | None:
    """``other``'s contact, read on the node through their grant to this member (a receipt on
    their side), or None while they have not granted it."""
    try:
        read = wallet.read(other, [CONTACT_FIELD])
    except NodeRefusedError:
        return None
    field = read["fields"].get(CONTACT_FIELD)
    return None if field is None else field["value"]
