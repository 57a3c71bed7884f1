"""Passport field records: the value sealed, the record signed, the blob ready to upload."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.chain import Author
from ledger.records import Record
from wallet import seal


@dataclass(frozen=True)
class FieldUpdate:
    record: Record
    sealed: seal.Sealed

    @property
    def blobs(self) -> dict[str, bytes]:
        """What to upload with the record: the node refuses a ``passport.set`` without it."""
        return {self.sealed.blob_name: self.sealed.blob}


def set_field(member: Author, field: str, value: object, readers: list[str]) -> FieldUpdate:
    """Seal ``value`` to the member and ``readers`` and sign the next ``passport.set``."""
    sealed = seal.seal(value, author=member.did, field=field, seq=member.seq + 1,
                       recipients=[member.did, *readers])
    record = member.next("passport.set", {"field": field, "commitment": sealed.commitment,
                                          "blob": sealed.blob_name,
                                          "recipients": sealed.recipients})
    return FieldUpdate(record, sealed)
