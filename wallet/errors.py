"""Errors of the wallet, each with the one line a member should read."""

from __future__ import annotations

from ledger.errors import LedgerError


class WalletError(LedgerError):
    code = "wallet-error"


class SealError(WalletError):
    """A sealed value that cannot be opened or does not match its commitment."""

    code = "seal-error"
