"""Errors of the wallet, each with the one line a member should read."""

from __future__ import annotations

from ledger.errors import LedgerError, SealError


class WalletError(LedgerError):
    code = "wallet-error"


class KeystoreError(WalletError):
    """No key store, a damaged one, or one that cannot do what was asked."""

    code = "keystore-error"


class WrongPassphraseError(KeystoreError):
    code = "wrong-passphrase"


class UnreachableNodeError(WalletError):
    code = "node-unreachable"


class NodeRefusedError(WalletError):
    """The node answered with a problem; the message is its detail, with its type."""

    code = "node-refused"


class UntrustedNodeError(WalletError):
    """The node showed a history inconsistent with a tree head the wallet saw before."""

    code = "untrusted-node"


class UsageError(WalletError):
    """A command asked for something that does not exist or does not apply (field, grant)."""

    code = "usage-error"


class EnvelopeError(WalletError, SealError):
    """An envelope that is malformed, altered, or not sealed to any key the wallet holds."""

    code = "envelope-error"


class ExportInvalidError(WalletError):
    """An export file that is malformed or does not verify: nothing is imported from it."""

    code = "export-invalid"


class PresentationInvalidError(WalletError):
    """A verifiable credential or Data Integrity proof that does not verify; ``check`` names
    which check failed (proof, key, commitment, record, claim, inclusion, checkpoint, format)."""

    code = "presentation-invalid"

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
