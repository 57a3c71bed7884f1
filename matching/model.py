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


# One name per city, whatever language it is written in (compared after norm_place's folding).
CITY_ALIASES = {
    "brussels": ("bruxelles", "brussel", "brussels", "brussel stad", "bxl"),
    "the hague": ("den haag", "the hague", "s gravenhage", "'s gravenhage", "la haye",
                  "'s-gravenhage", "haag"),
    "antwerp": ("antwerpen", "antwerp", "anvers"),
    "ghent": ("gent", "ghent", "gand"),
    "bruges": ("brugge", "bruges"),
    "leuven": ("leuven", "louvain"),
    "liege": ("liege", "luik", "luttich"),
    "mechelen": ("mechelen", "malines"),
    "mons": ("mons", "bergen"),
    "namur": ("namur", "namen"),
    "amsterdam": ("amsterdam", "adam", "a'dam"),
    "rotterdam": ("rotterdam", "r'dam"),
    "maastricht": ("maastricht", "maestricht"),
    "den bosch": ("den bosch", "'s hertogenbosch", "s hertogenbosch", "bois le duc"),
    "lille": ("lille", "rijsel"),
    "paris": ("paris", "parijs"),
    "luxembourg": ("luxembourg", "luxemburg"),
    "cologne": ("cologne", "koln", "keulen"),
}
MONTHS = {name: n for n, names in enumerate((
    ("jan", "january", "janvier", "januari", "janv"),
    ("feb", "february", "fevrier", "februari", "fev", "fevr"),
    ("mar", "march", "mars", "maart", "mrt"),
    ("apr", "april", "avril", "avr"),
    ("may", "mai", "mei"),
    ("jun", "june", "juin", "juni"),
    ("jul", "july", "juillet", "juli", "juil"),
    ("aug", "august", "aout", "augustus"),
    ("sep", "sept", "september", "septembre"),
    ("oct", "october", "octobre", "okt", "oktober"),
    ("nov", "november", "novembre"),
    ("dec", "december", "decembre"),
), start=1) for name in names}
WRITTEN_DATE = re.compile(r"(?:[a-z]+\.?,?\s+)?(\d{1,2})(?:st|nd|rd|th|er|e)?\s+([a-z]+)\.?,?"
                          r"\s+(\d{4})")
MONTH_FIRST = re.compile(r"(?:[a-z]+\.?,?\s+)?([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+"
                         r"(\d{4})")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


_CITY = {" ".join(_fold(a).replace("-", " ").split()): city
         for city, names in CITY_ALIASES.items() for a in names}


def norm_place(text: str) -> str:
    """A city or space name compared loosely: case, accents and spacing do not matter, and a
    city's names in other languages are one (Bruxelles, Brussel -> brussels)."""
    plain = " ".join(_fold(text).replace("-", " ").split())
    return _CITY.get(plain, plain)


def norm_date(text: str) -> str:
    """A date as people write it -> ``YYYY-MM-DD`` (or "" if unreadable): ``2026-11-24``,
    ``2026/11/24``, ``24/11/2026``, ``24.11.2026``, ``24-11-2026``, an RFC 3339 time,
    ``24 Nov 2026``, ``Tuesday 24 November 2026``, ``24 novembre 2026``, ``24 november 2026``,
    ``Nov 24, 2026``.  Numeric dates are day first (as written in Belgium, the Netherlands
    and France)."""
    t = _fold(text.strip())
    m = ISO_DATE.match(t.replace("/", "-"))
    if m:
        y, mo, d = (int(g) for g in m.groups())
    elif (m := DMY.fullmatch(t)) is not None:
        d, mo, y = (int(g) for g in m.groups())
    elif (m := WRITTEN_DATE.fullmatch(t)) is not None and m.group(2) in MONTHS:
        d, mo, y = int(m.group(1)), MONTHS[m.group(2)], int(m.group(3))
    elif (m := MONTH_FIRST.fullmatch(t)) is not None and m.group(1) in MONTHS:
        d, mo, y = int(m.group(2)), MONTHS[m.group(1)], int(m.group(3))
    else:
        return ""
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
    """``17:30``, ``17h30``, ``17.30`` (UTC) or an RFC 3339 time.

    A time of day is the check-in's day; it is read as the next day only when that is within
    ``PRESENCE_TTL_MS`` of the check-in (in at 22:00, leaving 02:00).  Otherwise a time earlier
    than the check-in means the member has already left (in at 17:30, "17:00": gone, not
    present for 23.5 hours)."""
    text = as_text(value).strip().lower()
    m = HHMM.fullmatch(text) or re.fullmatch(r"(\d{1,2})h()", text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if hour > 23 or minute > 59:
            return None
        base = datetime.fromtimestamp(since_ms / 1000, UTC)
        at = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= base and at + timedelta(days=1) - base <= timedelta(milliseconds=PRESENCE_TTL_MS):
            at += timedelta(days=1)
        return int(at.timestamp() * 1000)
    try:
        return parse_ts(as_text(value).strip())  # RFC 3339 as written: its T and Z are upper
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
        seats = int(str(value.get("seats", 1)).strip())
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
