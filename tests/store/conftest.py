"""Store fixtures: ledgers opened on this test's database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import nacl.signing
import pytest

from ledger import keys
from ledger.store.ledger import Ledger


@pytest.fixture
def log_key() -> nacl.signing.SigningKey:
    return keys.generate()


@pytest.fixture
def open_ledger(db_url: str, log_key: nacl.signing.SigningKey
                ) -> Iterator[Callable[..., Ledger]]:
    """Open (and afterwards close) ledgers on this test's database; in-process checks by default."""
    opened: list[Ledger] = []

    def make(**kwargs: object) -> Ledger:
        kwargs.setdefault("log_key", log_key)
        kwargs.setdefault("verify_workers", 0)
        ledger = Ledger.open(db_url, **kwargs)  # type: ignore[arg-type]
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_ledger: Callable[..., Ledger]) -> Ledger:
    return open_ledger()
