"""RFC 3339 UTC times, as records carry them, and milliseconds since the epoch."""

from __future__ import annotations

import calendar
import re
import time

from ledger.errors import RecordError

TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?Z", re.ASCII)


def parse_ts(value: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 UTC time (``Z``, optional fraction)."""
    m = TS_RE.fullmatch(value)
    if not m:
        raise RecordError(f"time {value[:40]!r} is not RFC 3339 UTC like 2026-01-31T09:30:00Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 60):
        raise RecordError(f"time {value!r} is not a valid date and time")
    frac = m.group(7)
    ms = int((frac[1:] + "000")[:3]) if frac else 0
    return calendar.timegm((year, month, day, hour, minute, second)) * 1000 + ms


def format_ts(epoch_ms: int) -> str:
    seconds, ms = divmod(epoch_ms, 1000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{base}.{ms:03d}Z" if ms else f"{base}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000
