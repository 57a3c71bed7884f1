"""Public profiles: the name an organisation (a space, a service, a node) goes by, in clear.

Members stay private (their name is a sealed field like any other); organisations are meant to
be recognised, so they sign a ``profile`` record on their own chain and every node lists the
latest one of each author in its directory.  The body is versioned (``v``) so a later shape is
a new version, never a loosened old one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ledger.errors import RecordError

PROFILE_TYPE = "profile"
PROFILE_VERSION = 1
KINDS = ("space", "service", "node")
MAX_NAME_CHARS = 64
MAX_DESCRIPTION_CHARS = 280
MAX_WEB_CHARS = 200
WEB_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?")
REQUIRED = ("v", "kind", "name")
OPTIONAL = ("city", "description", "web")


def _fail(path: str, problem: str) -> RecordError:
    return RecordError(f"{path}: {problem}")


def _readable(value: Any, path: str, limit: int) -> str:
    """One line a person reads: no control or format characters (no bidi tricks), no
    surrounding spaces, so two profiles that print alike are alike."""
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise _fail(path, f"must be a string of 1 to {limit} characters")
    if value != value.strip() or "  " in value:
        raise _fail(path, "must not start or end with a space or hold two spaces in a row")
    bad = [c for c in value if not c.isprintable() and c != " "]
    if bad:  # control, format (bidi), unassigned, private, and spaces other than U+0020
        raise _fail(path, f"must not contain control or format characters ({bad[0]!r})")
    return value


def check_name(value: Any, path: str = "body.name") -> str:
    name = _readable(value, path, MAX_NAME_CHARS)
    if name.lower().startswith("did:"):
        raise _fail(path, "must be a name, not a did")
    return name


def check_profile(body: Any, path: str = "body") -> None:
    """Raise ``RecordError`` naming the first problem in a profile body."""
    if not isinstance(body, dict):
        raise _fail(path, "must be a JSON object")
    for key in body:
        if key not in REQUIRED and key not in OPTIONAL:
            raise _fail(f"{path}.{key}", "unknown key")
    for key in REQUIRED:
        if key not in body:
            raise _fail(f"{path}.{key}", "is required")
    v = body["v"]
    if v != PROFILE_VERSION or isinstance(v, bool):
        raise _fail(f"{path}.v", f"unsupported profile version {v!r}; this node speaks "
                                 f"{PROFILE_VERSION}")
    if body["kind"] not in KINDS:
        raise _fail(f"{path}.kind", f"must be one of {', '.join(KINDS)}")
    check_name(body["name"], f"{path}.name")
    if "city" in body:
        _readable(body["city"], f"{path}.city", MAX_NAME_CHARS)
    if "description" in body:
        _readable(body["description"], f"{path}.description", MAX_DESCRIPTION_CHARS)
    if "web" in body:
        web = body["web"]
        if not isinstance(web, str) or len(web) > MAX_WEB_CHARS or not WEB_RE.fullmatch(web):
            raise _fail(f"{path}.web", f"must be an http(s) address of at most {MAX_WEB_CHARS} "
                                       "characters, like https://example.org")


@dataclass(frozen=True)
class Profile:
    """A verified profile: who (``did``), as of which record."""

    did: str
    kind: str
    name: str
    city: str | None = None
    description: str | None = None
    web: str | None = None
    record_id: str = ""
    ts: str = ""

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": PROFILE_VERSION, "kind": self.kind, "name": self.name}
        for key in OPTIONAL:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def to_json(self) -> dict[str, Any]:
        return {"did": self.did, **{k: v for k, v in self.body().items() if k != "v"},
                "record": self.record_id, "ts": self.ts}


def profile_body(kind: str, name: str, city: str | None = None,
                 description: str | None = None, web: str | None = None) -> dict[str, Any]:
    """The body of a profile record, checked (a signer never emits one a node refuses)."""
    body: dict[str, Any] = {"v": PROFILE_VERSION, "kind": kind, "name": name}
    for key, value in (("city", city), ("description", description), ("web", web)):
        if value is not None:
            body[key] = value
    check_profile(body)
    return body


def profile_of(author: str, record_id: str, ts: str, body: dict[str, Any]) -> Profile:
    """A checked profile body as a ``Profile`` of ``author``."""
    check_profile(body)
    return Profile(did=author, kind=body["kind"], name=body["name"], city=body.get("city"),
                   description=body.get("description"), web=body.get("web"),
                   record_id=record_id, ts=ts)


def same_name(a: str, b: str) -> bool:
    """Names compare without case and Unicode width/compatibility differences."""
    return fold(a) == fold(b)


def fold(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()
