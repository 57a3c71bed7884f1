"""The member's address book: names of people and places, kept on this machine only.

Members have no public profile, so the names a member sees beside other members' dids come
from here: names the member typed (``passport contacts add``), and names the wallet learned
from what it was shown (a granted ``name`` field, a check-in a desk verified).  It is never
sent to the node.  A name the member typed is never replaced by a learned one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ledger import keys
from ledger.errors import RecordError
from ledger.profiles import check_name, fold
from ledger.times import now_ms
from wallet.errors import KeystoreError, UsageError
from wallet.keystore import write_private

FILE_NAME = "contacts.json"
TYPED = "typed"
SOURCES = (TYPED, "granted name", "check-in", "attestation")


@dataclass(frozen=True)
class Contact:
    did: str
    name: str
    source: str  # one of SOURCES: how the wallet knows this name
    added_ms: int


class AddressBook:
    """``contacts.json`` in the wallet's home (mode 0600, written atomically)."""

    def __init__(self, home: Path, contacts: dict[str, Contact]) -> None:
        self.home, self._contacts = home, contacts

    @classmethod
    def load(cls, home: Path) -> AddressBook:
        path = home / FILE_NAME
        if not path.exists():
            return cls(home, {})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            contacts = {d: Contact(**c) for d, c in data["contacts"].items()}
        except (ValueError, KeyError, TypeError) as e:
            raise KeystoreError(f"{path} is damaged ({e}); fix or delete it") from None
        return cls(home, contacts)

    def save(self) -> None:
        data = {"contacts": {d: asdict(c) for d, c in sorted(self._contacts.items())}}
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.home / FILE_NAME, json.dumps(data, indent=1,
                                                        ensure_ascii=False).encode())

    def get(self, did: str) -> Contact | None:
        return self._contacts.get(did)

    def all(self) -> list[Contact]:
        return sorted(self._contacts.values(), key=lambda c: (fold(c.name), c.did))

    def named(self, name: str) -> list[Contact]:
        wanted = fold(name)
        return [c for c in self.all() if fold(c.name) == wanted]

    def add(self, did: str, name: str, source: str = TYPED) -> Contact | None:
        """Remember ``name`` for ``did``; a learned name never replaces a typed one.  Returns
        the contact kept, or None when a learned name was not taken (not a readable name)."""
        keys.public_key_from_did(did)
        if source not in SOURCES:
            raise UsageError(f"unknown source {source!r}")
        try:
            check_name(name.strip() if source != TYPED else name, "name")
        except RecordError as e:
            if source == TYPED:
                raise UsageError(f"contact name {e}") from None
            return None
        current = self._contacts.get(did)
        if source != TYPED and current is not None and current.source == TYPED:
            return current
        contact = Contact(did, name.strip(), source, now_ms())
        self._contacts[did] = contact
        return contact

    def remove(self, did: str) -> Contact:
        contact = self._contacts.pop(did, None)
        if contact is None:
            raise UsageError(f"{did} is not in your contacts (see 'passport contacts list')")
        return contact


def learn(home: Path, did: str, name: object, source: str) -> None:
    """Add a name the wallet was shown (best effort: an odd value is simply not learned)."""
    if not isinstance(name, str):
        return
    book = AddressBook.load(home)
    before = book.get(did)
    if book.add(did, name, source) not in (None, before):
        book.save()
