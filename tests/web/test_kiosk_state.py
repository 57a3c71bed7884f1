"""The kiosk's challenge rotation, on a real node and a real desk wallet, with the clock moved
instead of waited for."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.test_desk_verify import forge_checkin
from tests.web.conftest import PASSPHRASE
from wallet import checkin as ck
from wallet import keystore
from wallet.wallet import Wallet
from wallet.web import kiosk
from wallet.web.server import render


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


def test_a_bad_check_in_never_stops_the_kiosk_even_after_a_restart(party: Any) -> None:
    """Issue 17: Mallory granted the desk a field she never set and checked in; the kiosk
    showed only that refusal and never issued a new challenge, even after a restart.  Now it
    shows Mallory (her field named as not readable), Alice with her field, and moves on."""
    desk_party = party("Desk Mallory", "space")
    alice, mallory, trent = party("Alice K"), party("Mallory K"), party("Trent K")
    alice.ok("set", "activity", "Writing a field guide")
    alice.ok("grant", desk_party.did, "--fields", "activity", "--purpose", "desk", "--yes")
    mallory.ok("grant", desk_party.did, "--fields", "looking_for", "--purpose", "desk",
               "--yes")
    wallet = Wallet(desk_party.home, keystore.load(desk_party.home, PASSPHRASE), PASSPHRASE,
                    desk_party.node.url)
    try:
        wallet.sync()
        desk = kiosk.Desk(wallet, "Desk Mallory")
        shown, _ = desk.state()
        mallory.ok("checkin", shown.token())
        after_mallory, checkins = desk.state()
        assert after_mallory != shown  # a fresh challenge, not stuck on the refusal
        assert [c["member"] for c in checkins] == [mallory.did]
        assert "looking_for" in checkins[0]["unreadable"]
        alice.ok("checkin", after_mallory.token())
        after_alice, checkins = desk.state()
        assert after_alice not in (shown, after_mallory)
        assert {c["member"]: c["fields"] for c in checkins} == {
            alice.did: {"activity": "Writing a field guide"}, mallory.did: {}}

        # a check-in the desk cannot open: listed as refused, beside the others, on the page
        forged = forge_checkin(trent, after_alice.token(), desk_party.node)
        after_trent, checkins = desk.state()
        assert after_trent != after_alice
        assert [c["refused"] for c in checkins if c["checkin"] == forged]
        panel = render("kiosk_panel.html", **kiosk._context(desk, "t")).body.decode()
        assert "did not verify" in panel and forged in panel and alice.did in panel
        assert 'id="count">2<' in panel  # the refused one is not counted as checked in

        restarted = kiosk.Desk(wallet, "Desk Mallory")  # a new process: today's list again
        fresh, again = restarted.state()
        assert fresh.token().startswith(ck.CHALLENGE_PREFIX)
        assert {c.get("member") for c in again} == {alice.did, mallory.did, None}
        assert {c.get("attestation") for c in again} == {c.get("attestation") for c in checkins}
    finally:
        wallet.close()
