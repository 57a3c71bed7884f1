"""The member's own page (`passport ui`) in Chromium: fields, grants and receipts; a revoke
clicked there is what the service's next read meets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.web.conftest import screenshot, split_words


def test_revoke_clicked_in_the_member_view_refuses_the_next_read(
        party: Any, serve: Any, page: Any, tmp_path: Path) -> None:
    rides = party("RideShare Delft", "service")  # the session's node has other RideShares
    alice = party("Alice")
    alice.ok("set", "activity", "Designing a ride-sharing service")
    alice.ok("set", "city", "Utrecht")
    alice.ok("set", "expertise", "<b>Merkle</b> & trees")
    gid = alice.ok("grant", "RideShare Delft", "--fields", "activity,city",  # by its public name
                   "--purpose", "ride matching", "--yes")["grant"]
    alice.ok("grant", rides.did, "--fields", "city", "--purpose", "a second grant", "--yes")
    read = rides.ok("read", alice.did, "--fields", "activity,city")
    assert read["fields"]["city"]["value"] == "Utrecht"
    ui = serve(alice, "ui")

    page.goto(ui.url)
    expect(page.locator("#fields")).to_contain_text("Utrecht")
    expect(page.locator("#fields")).to_contain_text("<b>Merkle</b> & trees")  # escaped, as text
    assert page.locator("#fields b").count() == 0
    grant = page.locator(f"tr.grant[data-grant='{gid}']")
    expect(grant).to_have_attribute("data-status", "live")
    expect(grant).to_contain_text("ride matching")
    # the reader by the name it published, its did on the page (short form shown, full kept)
    expect(page.locator(f"#receipts .party[data-did='{rides.did}']")).to_contain_text(
        "RideShare")
    expect(page.locator("#receipts")).to_contain_text("activity, city")
    expect(grant.locator(f".party[data-did='{rides.did}']")).to_contain_text(
        "RideShare Delft service")
    # one reader listed once under a field, however many grants cover it
    assert page.locator("#fields tr", has_text="city").locator(".party").count() == 1
    assert rides.did not in page.locator("main").inner_text()  # names, not dids
    # local times with their offset, the RFC 3339 UTC time kept in the markup
    when = page.locator("#receipts time").first
    assert when.get_attribute("datetime").endswith("Z")
    assert when.inner_text()[-6] in "+-" and when.inner_text()[-3] == ":"
    assert split_words(page) == {"desktop": [], "phone": []}
    screenshot(page, tmp_path, "member-view", docs=("desktop", "phone"))

    # only with the token, under a loopback Host, and a revoke only from the page's own form
    assert httpx.get(ui.base + "/").status_code == 403
    assert httpx.get(ui.url, headers={"Host": "rebound.example:80"}).status_code == 403
    revoke = ui.base + "/revoke?token=" + ui.token
    assert httpx.post(revoke, data={"grant": gid}).status_code == 403  # no form token (CSRF)
    assert httpx.post(revoke, data={"grant": gid, "csrf": "x" * len(ui.token)}).status_code == 403
    assert httpx.post(revoke, data={"grant": gid, "csrf": ui.token},
                      headers={"Origin": "https://evil.example"}).status_code == 403
    assert alice.ok("grants")[0]["status"] == "live"

    grant.get_by_role("button", name="Revoke").click()
    expect(page.locator("#flash")).to_contain_text(f"grant {gid} revoked")
    expect(page.locator(f"tr.grant[data-grant='{gid}']")).to_have_attribute(
        "data-status", "revoked")
    assert page.locator(f"tr.grant[data-grant='{gid}'] button").count() == 0

    refused = rides.fails("read", alice.did, "--fields", "activity")
    assert "revoked" in refused, refused
    assert alice.ok("grants")[0]["status"] == "revoked"

