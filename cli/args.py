"""What a person types, checked before anything is signed: field names, durations and
expiries, field lists."""

from __future__ import annotations

import re

from ledger.times import now_ms, parse_ts
from wallet.errors import UsageError
from wallet.fields import STANDARD_FIELDS

DURATION = re.compile(r"(\d+)([mhdw])")
UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
MAX_EXPIRY_MS = 2 * 366 * UNIT_MS["d"]  # a grant longer than two years is a typo, not consent


def check_fields(names: list[str], custom: bool) -> list[str]:
    """Field names, each standard unless --custom: a typo would stay on the ledger forever."""
    from matching.fields import STRUCTURED  # noqa: PLC0415  (plan, trip, space ...)

    known = (*STANDARD_FIELDS, *(f for f in STRUCTURED if f not in STANDARD_FIELDS))
    odd = [n for n in names if n not in known]
    if odd and not custom:
        raise UsageError(f"{', '.join(repr(n) for n in odd)} is not a standard field "
                         f"({', '.join(known)}); if you mean a field of your own, add --custom")
    return names



def duration_ms(text: str) -> int | None:
    """``30d`` -> milliseconds; None if ``text`` is not a duration."""
    match = DURATION.fullmatch(text.strip())
    return int(match.group(1)) * UNIT_MS[match.group(2)] if match else None


def expiry_ms(text: str) -> int:
    """An expiry in the future and at most two years ahead."""
    now = now_ms()
    duration = duration_ms(text)
    if duration is not None:
        when = now + duration
    else:
        try:
            when = parse_ts(text)
        except Exception:
            raise UsageError(f"--expires {text!r}: give a duration like 30d, 12h, 90m or 2w, or "
                             "an RFC 3339 time like 2026-12-31T18:00:00Z") from None
    if when <= now:
        raise UsageError(f"--expires {text!r} is not in the future")
    if when - now > MAX_EXPIRY_MS:
        raise UsageError(f"--expires {text!r} is more than two years ahead; grant for less and "
                         "grant again later")
    return when


def split_fields(text: str) -> list[str]:
    fields = [f.strip() for f in text.split(",") if f.strip()]
    if not fields:
        raise UsageError("--fields: name at least one field, e.g. --fields activity,city")
    return fields
