"""Who a did is, for a person: the directory of organisations, then the member's contacts.

``Names.of`` never fails for want of a name: an unknown party is a ``Party`` with no name, and
the CLI marks it unknown, loudly.  ``Names.resolve`` turns a name a person typed into exactly
one did, or refuses: no match, or several (with the candidates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger import keys
from ledger.errors import KeyFormatError
from ledger.profiles import fold
from ledger.times import parse_ts
from passport_api.client import NodeClient, NodeError
from wallet.addressbook import AddressBook
from wallet.errors import UsageError

SHORT_HEAD, SHORT_TAIL = 8, 4  # "z6MkhaXg…2doK": enough to tell two keys apart at a glance


class AmbiguousNameError(UsageError):
    code = "ambiguous-name"


class UnknownNameError(UsageError):
    code = "unknown-name"


def short_did(did: str) -> str:
    """``did:key:z6MkhaXg…2doK``'s short form for tables: ``z6MkhaXg…2doK``."""
    ident = did.removeprefix("did:key:")
    if len(ident) <= SHORT_HEAD + SHORT_TAIL + 1:
        return ident
    return f"{ident[:SHORT_HEAD]}…{ident[-SHORT_TAIL:]}"


def local_time(when: str | int | None) -> str:
    """An RFC 3339 UTC time (or ms) in this machine's time zone with its offset, for people:
    ``2026-11-30 16:10:05 +01:00`` (programs get the RFC 3339 UTC form)."""
    if when is None or when == "":
        return ""
    ms = when if isinstance(when, int) else parse_ts(when)
    local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S %z")
    return text[:-2] + ":" + text[-2:]  # +0100 -> +01:00


@dataclass(frozen=True)
class Party:
    did: str
    name: str | None = None
    kind: str | None = None  # space, service, node (directory); person (contacts)
    source: str | None = None  # "directory", or how the contact was learned

    @property
    def known(self) -> bool:
        return self.name is not None

    def label(self, *, full: bool = False) -> str:
        """"RideShare · service · z6MkhaXg…2doK"; "UNKNOWN · z6Mk…" when nobody is known."""
        ident = self.did if full else short_did(self.did)
        if self.name is None:
            return f"UNKNOWN · {ident}"
        return " · ".join(p for p in (self.name, self.kind, ident) if p)

    def to_json(self) -> dict[str, Any]:
        return {"did": self.did, "name": self.name, "kind": self.kind, "source": self.source}


class Names:
    """Names for dids, from the node's directory (checked profiles) and the local contacts."""

    def __init__(self, client: NodeClient, book: AddressBook) -> None:
        self.client, self.book = client, book
        self._seen: dict[str, Party] = {}

    def of(self, did: str) -> Party:
        if did not in self._seen:
            self._seen[did] = self._lookup(did)
        return self._seen[did]

    def _lookup(self, did: str) -> Party:
        contact = self.book.get(did)
        if contact is not None:
            return Party(did, contact.name, "person" if contact.source != "directory" else None,
                         contact.source)
        try:
            profile = self.client.profile(did)
        except (NodeError, KeyFormatError):
            profile = None
        if profile is None:
            return Party(did)
        return Party(did, profile.name, profile.kind, "directory")

    def resolve(self, who: str) -> Party:
        """A did as is (with its name, if known); a name to the one party that has it."""
        if who.startswith("did:"):
            keys.public_key_from_did(who)
            return self.of(who)
        wanted = fold(who)
        found: dict[str, Party] = {}
        near: list[Party] = []
        for contact in self.book.all():
            party = Party(contact.did, contact.name, "person", contact.source)
            if fold(contact.name) == wanted:
                found[contact.did] = party
            elif wanted in fold(contact.name):
                near.append(party)
        try:
            listed = self.client.directory(who)
        except NodeError:
            listed = ()
        for profile in listed:
            party = Party(profile.did, profile.name, profile.kind, "directory")
            if fold(profile.name) == wanted:
                found.setdefault(profile.did, party)
            else:
                near.append(party)
        if len(found) == 1:
            party = next(iter(found.values()))
            self._seen[party.did] = party
            return party
        if found:
            listed_text = "; ".join(f"{p.label(full=True)} ({p.source})" for p in found.values())
            raise AmbiguousNameError(f"{len(found)} parties are named {who!r}: {listed_text}; "
                                "give the did instead")
        hint = ("; did you mean " + "; ".join(p.label(full=True) for p in near[:5]) + "?"
                ) if near else ""
        raise UnknownNameError(f"no one named {who!r} in the node's directory or your contacts"
                          f"{hint} (give a did:key, or 'passport contacts add DID NAME')")
