"""Errors of anchoring and of checking anchored evidence, grouped by who is at fault.

All subclass ``ledger.errors.LedgerError``, so the CLI prints each as one line and the HTTP
API maps each ``code`` to a problem type.
"""

from __future__ import annotations

from ledger.errors import LedgerError


class AnchorError(LedgerError):
    """Base of every anchoring error."""

    code = "anchor-error"


# --- the chain or the way to it ---------------------------------------------------------------


class ChainUnavailableError(AnchorError):
    """The chain's RPC endpoint cannot be reached or answered with an error."""

    code = "chain-unavailable"


class ContractMissingError(AnchorError):
    """No Anchor contract (no code, or other code) at the configured address."""

    code = "contract-missing"


class AnchorConfigError(AnchorError):
    """Anchoring is not configured, or configured inconsistently (no key for a real chain)."""

    code = "anchor-config"


class AnchorBusyError(AnchorError):
    """Another process (a worker, ``passport node anchor``) holds the anchoring lease."""

    code = "anchor-busy"


class NotAnchoredError(AnchorError):
    """No confirmed anchor covers the record yet."""

    code = "not-anchored"


# --- the evidence (and so whoever produced it) --------------------------------------------------


class EvidenceError(AnchorError):
    """Evidence that is malformed: a missing member, a value of the wrong form."""

    code = "invalid-evidence"


class EvidenceProofError(EvidenceError):
    """A record, proof or signed tree head that does not verify (forged, tampered)."""

    code = "evidence-proof-failed"


class AnchorMismatchError(EvidenceError):
    """The chain holds no anchor of the evidence's root and size in that transaction."""

    code = "anchor-mismatch"


class SenderMismatchError(EvidenceError):
    """The anchor on chain was sent by another account than the one expected."""

    code = "anchor-wrong-sender"


class ReorgedError(EvidenceError):
    """The anchor's block is no longer on the canonical chain (a reorganisation)."""

    code = "anchor-reorged"


class NotConfirmedError(EvidenceError):
    """The anchor has fewer confirmations than required."""

    code = "anchor-unconfirmed"
