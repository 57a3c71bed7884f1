"""The structured fields a member sets for the matcher: their JSON shapes, built and validated.

These are the values ``matching.model.profile_from_granted`` reads (docs/protocol.md §22):

- ``space``: ``{"space": <space did or name>, "at": <RFC 3339>, "checkin": <record id>?}``
- ``leaving_at``: ``"HH:MM"`` (UTC) or an RFC 3339 time
- ``plan``: ``{"city" | "space": <where>, "date": "YYYY-MM-DD", "from": <city>?}``
- ``trip``: ``{"origin": <city>, "destination": <city>, "date": "YYYY-MM-DD", "seats": 1..8}``

Dates are accepted in the forms people write them (``2026-12-03``, ``3/12/2026``, ``3.12.2026``,
``3 dec``, ``3 December 2026``, ``Dec 3``, ``today``, ``tomorrow``, a weekday, in English,
French or Dutch) and stored as ``YYYY-MM-DD``, so every reader agrees.  Places are stored as
written (trimmed); the matcher compares them loosely, with city aliases.  Pure: callers pass
the time.  A bad value raises ``FieldError`` naming the problem; nothing is written.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger.errors import LedgerError, PassportError
from ledger.times import format_ts, parse_ts
from matching.model import HHMM, MONTHS, norm_date, norm_place

MAX_SEATS = 8
MAX_PLACE = 120
MAX_DAYS_AHEAD = 366

WEEKDAYS = {
    0: ("monday", "mon", "lundi", "maandag"), 1: ("tuesday", "tue", "mardi", "dinsdag"),
    2: ("wednesday", "wed", "mercredi", "woensdag"), 3: ("thursday", "thu", "jeudi", "donderdag"),
    4: ("friday", "fri", "vendredi", "vrijdag"), 5: ("saturday", "sat", "samedi", "zaterdag"),
    6: ("sunday", "sun", "dimanche", "zondag")}
WEEKDAY_OF = {name: n for n, names in WEEKDAYS.items() for name in names}
RELATIVE = {"today": 0, "aujourd'hui": 0, "vandaag": 0, "tomorrow": 1, "demain": 1,
            "morgen": 1, "overmorgen": 2, "apres-demain": 2, "apres demain": 2}
DAY_MONTH = re.compile(r"(\d{1,2})(?:st|nd|rd|th|er|e)?\s+([a-z]+)\.?")
MONTH_DAY = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?")
DAY_MONTH_NUM = re.compile(r"(\d{1,2})[/.-](\d{1,2})")


class FieldError(PassportError):
    """A structured field's value that cannot be written as given (the message says why)."""

    code = "field-error"


def _today(now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, UTC).date()


def _next(day: date, month: int, dom: int) -> date | None:
    """The next ``dom``/``month`` from ``day`` on (a date written without its year)."""
    try:
        found = date(day.year, month, dom)
        return found if found >= day else date(day.year + 1, month, dom)
    except ValueError:
        return None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _without_year(raw: str, today: date) -> date | None:
    if m := DAY_MONTH.fullmatch(raw):
        month, dom = MONTHS.get(m.group(2)), int(m.group(1))
    elif m := MONTH_DAY.fullmatch(raw):
        month, dom = MONTHS.get(m.group(1)), int(m.group(2))
    elif m := DAY_MONTH_NUM.fullmatch(raw):
        month, dom = int(m.group(2)), int(m.group(1))
    else:
        return None
    return _next(today, month, dom) if month and 1 <= month <= 12 else None


def parse_date(text: str, now_ms: int) -> str:
    """A date as people write it -> ``YYYY-MM-DD``: every form ``matching.model.norm_date``
    reads, and ``today``/``tomorrow``, a weekday (the next one), or a day and month without the
    year (the next such day), in English, French or Dutch.

    ``FieldError`` if it is not a date, or lies in the past or more than a year ahead.
    """
    raw = " ".join(_fold(text.strip()).split())
    today = _today(now_ms)
    found: date | None = None
    if iso := norm_date(raw):
        found = date.fromisoformat(iso)
    elif raw in RELATIVE:
        found = today + timedelta(days=RELATIVE[raw])
    elif raw in WEEKDAY_OF:
        found = today + timedelta(days=(WEEKDAY_OF[raw] - today.weekday()) % 7)
    else:
        found = _without_year(raw, today)
    if found is None:
        raise FieldError(f"{text[:40]!r} is not a date; write 2026-12-03, 3/12/2026, 3 dec, "
                         "tomorrow or friday")
    if found < today:
        raise FieldError(f"{found.isoformat()} is in the past")
    if found > today + timedelta(days=MAX_DAYS_AHEAD):
        raise FieldError(f"{found.isoformat()} is more than a year ahead")
    return found.isoformat()


def place(text: str, what: str) -> str:
    """A city or space name as written, trimmed; ``FieldError`` if empty or absurd."""
    written = " ".join(text.split())
    if not norm_place(written):
        raise FieldError(f"{what} is empty; name a city (Brussels, Den Haag, Antwerpen...)")
    if len(written) > MAX_PLACE or any(ch.isdigit() for ch in written[:1]):
        raise FieldError(f"{what} {written[:40]!r} does not look like a place")
    return written


def plan_value(to: str, when: str, now_ms: int, origin: str = "",
               to_space: bool = False) -> dict[str, Any]:
    """A day planned elsewhere: the ``plan`` field."""
    value: dict[str, Any] = {"space" if to_space else "city": place(to, "--to"),
                             "date": parse_date(when, now_ms)}
    if origin.strip():
        value["from"] = place(origin, "--from")
    return value


def trip_value(origin: str, destination: str, when: str, seats: int,
               now_ms: int) -> dict[str, Any]:
    """A driver's trip: the ``trip`` field."""
    if not 1 <= seats <= MAX_SEATS:
        raise FieldError(f"--seats must be 1 to {MAX_SEATS} (the free seats in the car)")
    a, b = place(origin, "--from"), place(destination, "--to")
    if norm_place(a) == norm_place(b):
        raise FieldError("--from and --to are the same place")
    return {"origin": a, "destination": b, "date": parse_date(when, now_ms), "seats": seats}


def checkin_of(value: Any) -> str | None:
    """The check-in record a ``space`` value names, if any (``matching.sync`` checks it); the
    value is written by ``wallet.presence.space_value``."""
    if isinstance(value, dict) and "checkin" in value:
        return str(value["checkin"])
    return None


def leaving_value(text: str, now_ms: int) -> str:
    """When the member leaves today: ``HH:MM`` (UTC) or an RFC 3339 time not in the past."""
    t = text.strip()
    m = HHMM.fullmatch(t)
    if m:
        if int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise FieldError(f"{t!r} is not a time of day")
        return f"{int(m.group(1)):02d}:{m.group(2)}"
    try:
        at = parse_ts(t)
    except (LedgerError, ValueError):
        raise FieldError(f"{t[:40]!r} is not a time; write 17:30 (UTC) or an RFC 3339 time"
                         ) from None
    if at <= now_ms:
        raise FieldError(f"{t} is in the past")
    return format_ts(at)


STRUCTURED = ("plan", "trip", "space", "leaving_at")


def _text(value: dict[str, Any], key: str) -> str:
    got = value.get(key, "")
    if not isinstance(got, str):
        raise FieldError(f"{key!r} must be text")
    return got


def check(name: str, value: Any, now_ms: int) -> Any:
    """A value given for a structured field (``passport set FIELD VALUE [--json-value]``),
    validated and normalised to the shape the matcher reads; other fields pass unchanged.
    ``FieldError`` names what is wrong; nothing is written then."""
    if name not in STRUCTURED:
        return value
    if name == "leaving_at":
        if not isinstance(value, str):
            raise FieldError("leaving_at is text: 17:30 (UTC) or an RFC 3339 time")
        return leaving_value(value, now_ms)
    if name == "space" and isinstance(value, str):
        return place(value, "the space")  # a space named by hand, without a check-in
    if not isinstance(value, dict):
        raise FieldError(f"{name} is a JSON object (see docs/protocol.md §22); use --json-value, "
                         f"or 'passport match {'checkin' if name == 'space' else name}'")
    if name == "plan":
        to_space = "space" in value
        where = _text(value, "space" if to_space else "city")
        return plan_value(where, _text(value, "date"), now_ms, _text(value, "from"),
                          to_space=to_space)
    if name == "trip":
        seats = value.get("seats", 1)
        if not isinstance(seats, int) or isinstance(seats, bool):
            raise FieldError("'seats' must be a whole number")
        return trip_value(_text(value, "origin"), _text(value, "destination"),
                          _text(value, "date"), seats, now_ms)
    out = {**value, "space": place(_text(value, "space"), "the space")}
    if "at" in value:
        try:
            parse_ts(_text(value, "at"))
        except (LedgerError, ValueError):
            raise FieldError("'at' must be an RFC 3339 time") from None
    return out
