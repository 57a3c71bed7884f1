"""The one rule for a field record: the value sealed, the ``passport.set`` signed, the blob ready.

``Wallet.set`` and every test or benchmark that writes a field go through ``set_field``, so the
record's shape and who can open the value are decided here only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger import seal
from ledger.chain import Author
from ledger.records import Record

# The fields every client knows by name (the matcher reads most of them); any other name
# that passes ``ledger.bodies.field_name`` is a free-form field.
STANDARD_FIELDS = ("name", "activity", "leaving_at", "expertise", "can_help_with",
                   "looking_for", "city", "contact")


def is_standard(name: str) -> bool:
    return name in STANDARD_FIELDS


@dataclass(frozen=True)
class FieldUpdate:
    record: Record
    sealed: seal.Sealed

    @property
    def blobs(self) -> dict[str, bytes]:
        """What to upload with the record: the node refuses a ``passport.set`` without it."""
        return {self.sealed.blob_name: self.sealed.blob}


def set_field(member: Author, field: str, value: object, readers: Iterable[str], *,
              encryption_keys: Mapping[str, bytes] | None = None) -> FieldUpdate:
    """Seal ``value`` to the member and ``readers`` and sign the next ``passport.set``.

    Each recipient's value key is wrapped to ``encryption_keys[did]`` when given, else to the
    key it decrypts with now: for the member, the key it signs with (after ``key.rotate`` that
    is no longer its did's key); for a reader, its did's key.
    """
    keys_for = {member.did: bytes(member.signing_key.verify_key), **(encryption_keys or {})}
    recipients = list(dict.fromkeys([member.did, *readers, *keys_for]))
    sealed = seal.seal(value, author=member.did, field=field, seq=member.seq + 1,
                       recipients=recipients, encryption_keys=keys_for)
    record = member.next("passport.set", {"field": field, "commitment": sealed.commitment,
                                          "blob": sealed.blob_name,
                                          "recipients": sealed.recipients})
    return FieldUpdate(record, sealed)
