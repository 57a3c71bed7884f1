"""What the matcher knows about a member: only the fields the member granted to it, parsed.

A ``Profile`` is built by ``profile_from_granted`` from a mapping of granted field -> value and
nothing else: the sync edge passes exactly what the node served under a live grant, the
evaluation passes its synthetic members through the same function with their grant sets.  A
field that is not in the mapping cannot reach a ranking, because no ranking reads anything but a
``Profile``.  Presence is consented data too: a member is somewhere only if they granted the
``space`` field (set by ``passport match checkin`` after a desk check-in, or by hand), and how
long they stay only if they granted ``leaving_at``.

Pure: no I/O, no clock; callers pass the time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.errors import LedgerError
from ledger.times import parse_ts

# Every field any matcher reads; a member grants a subset.  ``contact`` is deliberately absent:
# contact details travel only from member to member, through grants made on a ride's accept.
MATCH_FIELDS = ("name", "expertise", "can_help_with", "looking_for", "interests", "city",
                "space", "leaving_at", "freelance", "plan", "trip")
PRESENCE_TTL_MS = 12 * 3_600_000  # a `space` without `leaving_at` counts for 12 hours
HHMM = re.compile(r"(\d{1,2})[:h.](\d{2})")
DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


@dataclass(frozen=True, slots=True)
class Space:
    """A space in the matcher's directory (public information a space registers itself)."""

    id: str  # the space's did, or any stable id
    name: str
    city: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Presence:
    space: str  # as the member wrote it: a space id or name (resolved against the directory)
    since_ms: int
    until_ms: int
    stay_known: bool  # False when `leaving_at` was not granted: the until is a default

    def active(self, now_ms: int) -> bool:
        return self.since_ms <= now_ms < self.until_ms


@dataclass(frozen=True, slots=True)
class Plan:
    """A day planned elsewhere (field ``plan``): to a space or a city, on a date, from a city."""

    destination: str  # a space id/name or a city, as written
    date: str  # normalised YYYY-MM-DD, or "" if unreadable
    origin: str  # a normalised city, or ""


@dataclass(frozen=True, slots=True)
class Trip:
    """A driver's planned trip (field ``trip``)."""

    origin: str  # normalised city
    destination: str  # normalised city
    date: str  # YYYY-MM-DD
    seats: int


@dataclass(frozen=True, slots=True)
class Profile:
    """One member as the matcher may see them: the granted fields, parsed."""

    did: str
    fields: frozenset[str]  # the granted fields that have a value: the only ones used
    name: str = ""
    expertise: str = ""
    can_help_with: str = ""
    looking_for: str = ""
    interests: str = ""
    city: str = ""  # normalised
    freelance: str = ""
    presence: Presence | None = None
    plan: Plan | None = None
    trip: Trip | None = None

    @property
    def label(self) -> str:
        return self.name or self.did[:24] + "…"


def norm_place(text: str) -> str:
    """A city or space name compared loosely: case, accents and spacing do not matter."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("-", " ").split())


def norm_date(text: str) -> str:
    """``2026-11-24``, ``24/11/2026``, ``24.11.2026`` or an RFC 3339 time -> ``2026-11-24``."""
    t = text.strip()
    m = ISO_DATE.match(t)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = DMY.fullmatch(t)
        if not m:
            return ""
        d, mo, y = (int(g) for g in m.groups())
    try:
        return datetime(y, mo, d, tzinfo=UTC).strftime("%Y-%m-%d")
    except ValueError:
        return ""


def as_text(value: Any) -> str:
    """A free-form field as text: strings as they are, lists joined, objects by their values."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return " ".join(as_text(v) for v in value.values())
    if isinstance(value, Iterable):
        return " ".join(as_text(v) for v in value)
    return str(value)


def leaving_ms(value: Any, since_ms: int) -> int | None:
    """``17:30`` (UTC, the next such time after ``since_ms``) or an RFC 3339 time."""
    text = as_text(value).strip()
    m = HHMM.fullmatch(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            return None
        base = datetime.fromtimestamp(since_ms / 1000, UTC)
        at = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= base:
            at += timedelta(days=1)
        return int(at.timestamp() * 1000)
    try:
        return parse_ts(text)
    except (LedgerError, ValueError):
        return None


def _presence(space: Any, leaving: Any, set_ms: int) -> Presence | None:
    if isinstance(space, Mapping):
        where = as_text(space.get("space", "")).strip()
        at = space.get("at")
        since = set_ms
        if isinstance(at, str):
            try:
                since = parse_ts(at)
            except (LedgerError, ValueError):
                since = set_ms
    else:
        where, since = as_text(space).strip(), set_ms
    if not where:
        return None
    until = leaving_ms(leaving, since) if leaving is not None else None
    if until is None:
        return Presence(where, since, since + PRESENCE_TTL_MS, stay_known=False)
    return Presence(where, since, until, stay_known=True)


def _plan(value: Any, home_city: str) -> Plan | None:
    if not isinstance(value, Mapping):
        return None
    dest = as_text(value.get("space") or value.get("city") or value.get("destination") or "")
    origin = norm_place(as_text(value.get("from") or value.get("origin") or "")) or home_city
    if not dest.strip():
        return None
    return Plan(dest.strip(), norm_date(as_text(value.get("date", ""))), origin)


def _trip(value: Any) -> Trip | None:
    if not isinstance(value, Mapping):
        return None
    try:
        seats = int(value.get("seats", 1))
    except (TypeError, ValueError):
        seats = 0
    trip = Trip(norm_place(as_text(value.get("origin", ""))),
                norm_place(as_text(value.get("destination", ""))),
                norm_date(as_text(value.get("date", ""))), max(seats, 0))
    return trip if trip.origin and trip.destination and trip.date else None


def profile_from_granted(did: str, granted: Mapping[str, Any], set_ms: Mapping[str, int]
                         ) -> Profile:
    """The profile of ``did`` from the values of the fields it granted (and only those).

    ``set_ms`` gives when each value was set (the ``passport.set`` record's time), which dates
    a presence.  Fields outside ``MATCH_FIELDS`` are ignored; so are values that do not parse.
    """
    fields = frozenset(f for f in MATCH_FIELDS if f in granted and granted[f] is not None)

    def text(name: str) -> str:
        return as_text(granted[name]) if name in fields else ""

    city = norm_place(text("city"))
    presence = None
    if "space" in fields:
        presence = _presence(granted["space"], granted.get("leaving_at") if "leaving_at" in fields
                             else None, set_ms.get("space", 0))
    return Profile(
        did=did, fields=fields, name=text("name"), expertise=text("expertise"),
        can_help_with=text("can_help_with"), looking_for=text("looking_for"),
        interests=text("interests"), city=city, freelance=text("freelance"),
        presence=presence,
        plan=_plan(granted["plan"], city) if "plan" in fields else None,
        trip=_trip(granted["trip"]) if "trip" in fields else None)
