"""Every error the ledger core and its store raise, grouped by who is at fault.

Callers (the CLI, the HTTP API) map these to one clear line or one problem+json type; the
``code`` of each class is that stable type.  Messages never carry key material.
"""

from __future__ import annotations


class PassportError(Exception):
    """The root of every error the project raises on purpose: the CLI prints it as one line.

    ``LedgerError`` (the core and its store, the wallet, anchoring), ``ApiError`` (refusals of
    the HTTP layer) and ``NodeError`` (a node's answer, seen by a client) all descend from it.
    """

    code = "error"


class LedgerError(PassportError):
    """Base of every ledger error."""

    code = "ledger-error"

    def at(self, where: str) -> LedgerError:
        """Prefix the message with where the problem is (``record 3 of the batch``)."""
        self.args = (f"{where}: {self.args[0]}", *self.args[1:]) if self.args else (where,)
        return self


# --- the submitter is at fault: the record is refused and nothing is stored ---------------------


class RecordError(LedgerError):
    """A record that is not well formed: bad JSON, bad field, bad body."""

    code = "invalid-record"


class EncodingError(RecordError):
    """Bytes that are not the canonical (RFC 8785) JSON the ledger requires."""

    code = "non-canonical-json"


class RecordTooLargeError(RecordError):
    code = "record-too-large"


class ClockSkewError(RecordError):
    """A record whose ``ts`` lies too far ahead of the node's clock."""

    code = "timestamp-in-future"


class SignatureError(RecordError):
    """A signature that does not verify under any key in force."""

    code = "bad-signature"


class ChainError(RecordError):
    """A record that does not continue its author's chain (seq gap, repeat, wrong prev, key)."""

    code = "chain-broken"


class EquivocationError(ChainError):
    """A second, different, validly signed record for an (author, seq) already taken.

    Both records are kept as evidence; ``existing_id`` and ``conflicting_id`` name them.
    """

    code = "equivocation"

    def __init__(self, message: str, *, author: str, seq: int, existing_id: str,
                 conflicting_id: str) -> None:
        super().__init__(message)
        self.author = author
        self.seq = seq
        self.existing_id = existing_id
        self.conflicting_id = conflicting_id


class BlobError(LedgerError):
    """A blob whose bytes do not hash to its name, or that is missing, or erased."""

    code = "invalid-blob"


class SealError(LedgerError):
    """A sealed value that cannot be opened or does not match its commitment."""

    code = "seal-error"


class KeyFormatError(LedgerError):
    """A key, did:key or signature of the wrong length or encoding."""

    code = "invalid-key"


# --- proofs and tree heads: the prover (a node) is at fault -------------------------------------


class ProofError(LedgerError):
    """A Merkle proof that does not prove what it claims."""

    code = "invalid-proof"


class InclusionProofError(ProofError):
    code = "invalid-inclusion-proof"

    def __init__(self, message: str, *, expected: bytes | None = None,
                 calculated: bytes | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class ConsistencyProofError(ProofError):
    code = "invalid-consistency-proof"

    def __init__(self, message: str, *, expected: bytes | None = None,
                 calculated: bytes | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class TreeHeadError(LedgerError):
    """A signed tree head (checkpoint) that is malformed or whose signature does not verify."""

    code = "invalid-tree-head"


# --- the caller asked for something that is not there -------------------------------------------


class NotFoundError(LedgerError):
    code = "not-found"


class TilePathError(LedgerError):
    """A path outside the tlog-tiles layout (``tile/<L>/<N>[.p/<W>]``, ``tile/entries/...``)."""

    code = "invalid-tile-path"


class RangeError(LedgerError):
    """A proof or page asked for sizes or indexes outside the log."""

    code = "out-of-range"


# --- the store itself -----------------------------------------------------------------------------


class StoreError(LedgerError):
    """The database could not be opened, migrated or written; nothing was half-written."""

    code = "store-error"



class ChallengeError(LedgerError):
    """A check-in that answers no live challenge of the space (unknown, used or expired)."""

    code = "invalid-challenge"
