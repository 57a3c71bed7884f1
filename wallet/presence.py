"""The ``space`` field: where a member is now, after checking in at a space's desk.

Its value has one shape, written here and read by the matcher (``matching.model``): the
space's did, the check-in record that proves the visit, and when.
"""

from __future__ import annotations

from typing import Any

from ledger.records import Record
from ledger.times import format_ts, now_ms
from wallet.checkin import Challenge, check_in
from wallet.wallet import Wallet

SPACE_FIELD = "space"


def space_value(space: str, checkin_id: str, at_ms: int) -> dict[str, Any]:
    """The value of the ``space`` field for a check-in at ``space`` (a did) at ``at_ms``."""
    return {"space": space, "checkin": checkin_id, "at": format_ts(at_ms)}


def check_in_here(wallet: Wallet, token: str) -> tuple[Record, str]:
    """Check in with the desk's token, then set ``space`` (sealed to whom the member granted
    it); the check-in record and the space's did."""
    record = check_in(wallet, token)
    space = Challenge.from_token(token).space
    wallet.set(SPACE_FIELD, space_value(space, record.id, now_ms()))
    return record, space
