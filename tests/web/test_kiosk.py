"""The desk kiosk (`passport desk serve`) in Chromium: a member answers the challenge shown
with the CLI, and the page shows the verified check-in with exactly the granted field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.web.conftest import screenshot, split_words

PREFIX = "passport checkin "


def test_check_in_appears_on_the_kiosk_with_only_the_granted_field(
        party: Any, serve: Any, page: Any, tmp_path: Path) -> None:
    desk = party("Seats2meet Utrecht", "space")
    alice = party("Alice")
    alice.ok("set", "activity", "Designing a ride-sharing service")
    alice.ok("set", "city", "Utrecht")
    alice.ok("grant", desk.did, "--fields", "activity", "--purpose", "front desk",
             "--yes")
    bob = party("Bob")
    bob.ok("grant", "Seats2meet Utrecht", "--fields", "name", "--purpose", "front desk",
           "--yes")  # by the space's public name
    kiosk = serve(desk, "desk", "serve")

    page.goto(kiosk.url)
    expect(page.locator("h1")).to_contain_text("Check in here")
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.locator("#checkins")).to_contain_text("no check-ins yet")
    shown = page.locator("#challenge").inner_text().strip()
    assert shown.startswith(PREFIX + "passport-checkin:")
    screenshot(page, tmp_path, "kiosk-waiting", docs=())

    alice.ok("checkin", shown[len(PREFIX):])

    row = page.locator(f"li.checkin[data-member='{alice.did}']")
    expect(row).to_be_visible(timeout=60_000)
    expect(row).to_contain_text("activity")
    expect(row).to_contain_text("Designing a ride-sharing service")
    assert "Utrecht" not in page.locator("#checkins").inner_text()  # city was not granted
    expect(page.locator("#count")).to_have_text("1")
    # a member who shared no name is not shown by a raw did
    expect(row.locator(".who")).to_have_text("a member who did not share a name")
    assert alice.did not in page.locator("main").inner_text()
    # the challenge on show was used: a fresh one replaced it
    fresh = page.locator("#challenge").inner_text().strip()
    assert fresh.startswith(PREFIX) and fresh != shown

    # Bob shared his name: the kiosk greets him by it; it counts people, not check-ins
    bob.ok("checkin", fresh[len(PREFIX):])
    bobs = page.locator(f"li.checkin[data-member='{bob.did}']")
    expect(bobs).to_be_visible(timeout=60_000)
    expect(bobs.locator(".who")).to_have_text("Bob")
    again = page.locator("#challenge").inner_text().strip()
    assert again != fresh
    bob.ok("checkin", again[len(PREFIX):])
    expect(page.locator("#visits")).to_have_text("2 people, 3 check-ins", timeout=60_000)
    expect(page.locator("#count")).to_have_text("2")
    when = page.locator("li.checkin time").first
    assert when.get_attribute("datetime").endswith("Z")
    assert when.inner_text()[-6] in "+-"  # local time with its offset
    assert split_words(page) == {"desktop": [], "phone": []}
    screenshot(page, tmp_path, "kiosk-checked-in", docs=("desktop", "phone"))

    # the used challenge cannot be answered again
    assert "already used" in alice.fails("checkin", shown[len(PREFIX):])

    # only with the printed token, only under a loopback Host name
    bare = httpx.get(kiosk.base + "/")
    assert bare.status_code == 403 and "needs the full link" in bare.text  # explains itself
    assert "?token=" in bare.text and kiosk.token not in bare.text
    assert httpx.get(kiosk.base + "/panel?token=" + "x" * len(kiosk.token)).status_code == 403
    assert httpx.get(kiosk.url, headers={"Host": "evil.example"}).status_code == 403
    panel = httpx.get(kiosk.base + "/panel?token=" + kiosk.token)
    assert panel.status_code == 200 and alice.did in panel.text
    assert panel.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in panel.headers["content-security-policy"]

