"""RFC 3339 UTC times, as records carry them, and milliseconds since the epoch."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

from ledger.errors import RecordError

TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?Z", re.ASCII)


def parse_ts(value: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 UTC time (``Z``, optional fraction).

    The pattern fixes the form; ``datetime.fromisoformat`` (C) then refuses what is not a
    real date and time (month 13, 30 February, hour 24, second 60), as the ranges would.
    """
    if not TS_RE.fullmatch(value):
        raise RecordError(f"time {value[:40]!r} is not RFC 3339 UTC like 2026-01-31T09:30:00Z")
    try:
        moment = datetime.fromisoformat(value[:-1])
    except ValueError:
        raise RecordError(f"time {value!r} is not a valid date and time") from None
    return (moment - _EPOCH) // _MS  # whole ms, the fraction truncated


_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)


def format_ts(epoch_ms: int) -> str:
    seconds, ms = divmod(epoch_ms, 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{base}.{ms:03d}Z" if ms else f"{base}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000
