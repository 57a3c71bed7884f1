"""The kiosk's challenge rotation, on a real node and a real desk wallet, with the clock moved
instead of waited for."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import PASSPHRASE
from wallet import keystore
from wallet.wallet import Wallet
from wallet.web import kiosk


def test_a_challenge_about_to_expire_is_replaced_and_still_watched(
        party: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    desk_party = party("Desk Clock", "space")
    wallet = Wallet(desk_party.home, keystore.load(desk_party.home, PASSPHRASE), PASSPHRASE,
                    desk_party.node.url)
    try:
        wallet.sync()
        desk = kiosk.Desk(wallet, "Desk Clock")
        first, checkins = desk.state()
        assert checkins == []
        assert desk.state()[0] == first  # nothing changed: the same challenge stays on show

        near_end = first.expires_ms - kiosk.REPLACE_BEFORE_EXPIRY_MS + 1
        monkeypatch.setattr(kiosk, "now_ms", lambda: near_end)
        second, _ = desk.state()
        assert second != first and second.space == first.space == wallet.did
        # the old one can still be answered for a few seconds: the kiosk keeps watching it
        assert [s.challenge for s in desk.open] == [first, second]

        # once expired it is let go (and, the clock having moved on, a fresh one is on show)
        monkeypatch.setattr(kiosk, "now_ms", lambda: first.expires_ms + 1)
        shown, _ = desk.state()
        assert first not in [s.challenge for s in desk.open]
        assert shown == desk.open[-1].challenge
    finally:
        wallet.close()
