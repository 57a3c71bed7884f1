"""The node's public explorer, in Chromium: the tree head, the anchors, a record verified by
the page's own script (green), and red when the node serves a tampered record, proof or head."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Route, expect

from passport_api.routes import explorer
from tests.api.conftest import Node
from tests.web.conftest import DESKTOP, screenshot, split_words, wait_until


def verdict(page: Any) -> str:
    box = page.locator("#verdict")
    expect(box).not_to_have_attribute("data-result", "pending", timeout=30_000)
    return str(box.get_attribute("data-result"))


def failed_checks(page: Any) -> list[str]:
    return [str(t) for t in page.locator("#checks li.fail").all_text_contents()]


def test_explorer_shows_head_anchors_and_a_chain_without_values(
        node: Node, party: Any, page: Any, tmp_path: Path) -> None:
    rides = party("RideShare", "service")
    alice = party("Alice")
    secret = "Designing a ride-sharing service"
    alice.ok("set", "activity", secret)
    alice.ok("set", "city", "Utrecht")
    size = httpx.get(node.url + "/v1/log/head").json()["size"]
    wait_until(lambda: any(a["tree_size"] >= size and a["status"] == "confirmed"
                           for a in httpx.get(node.url + "/v1/anchors").json()["anchors"]),
               "an anchor of the head")

    page.goto(node.url + "/explorer")
    expect(page.locator("#head-size")).to_contain_text(str(size))
    expect(page.locator("#anchors tr.anchor").first).to_contain_text("confirmed")
    expect(page.locator("#latest")).to_contain_text("passport.set")
    # an organisation by its public name, a member by a short did; times in local time
    expect(page.locator(f"#latest a[title='{rides.did}']").first).to_contain_text(
        "RideShare service")
    assert alice.did not in page.locator("#latest").inner_text()
    shown = page.locator("#latest time").first
    assert shown.get_attribute("datetime").endswith("Z")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", shown.inner_text())
    assert split_words(page) == {"desktop": [], "phone": []}
    screenshot(page, tmp_path, "explorer-home", docs=("desktop", "phone"))
    page.goto(f"{node.url}/explorer/members/{rides.did}")
    expect(page.locator("h1")).to_contain_text("RideShare")

    page.locator("input[name=q]").fill(alice.did)
    page.locator("form.search button").click()
    chain = page.locator("#chain")
    expect(chain).to_contain_text("key.rotate")
    expect(chain).to_contain_text("activity")
    expect(chain).to_contain_text("city")
    html = page.content()
    chain_json = httpx.get(f"{node.url}/v1/members/{alice.did}/chain").json()
    sets = [json.loads(r["record"]) for r in chain_json["records"]]
    sealed_parts = [s["body"][k] for s in sets if s["type"] == "passport.set"
                    for k in ("blob", "commitment")]
    sealed_parts += [w for s in sets if s["type"] == "passport.set"
                     for w in s["body"]["recipients"].values()]
    assert sealed_parts
    for hidden in [secret, "Utrecht", "Alice", *sealed_parts]:
        assert hidden not in html
    assert split_words(page) == {"desktop": [], "phone": []}
    screenshot(page, tmp_path, "explorer-chain", docs=("desktop", "phone"))


def test_record_verifies_in_the_browser_and_tampering_turns_it_red(
        node: Node, party: Any, page: Any, browser: Any, tmp_path: Path) -> None:
    bob = party("Bob")
    record_id = bob.ok("set", "expertise", "Merkle trees")["record"]
    # the chain goes on after it, so the proof is against a larger tree than the record's own
    bob.ok("rotate-key")
    later = bob.ok("set", "city", "Amsterdam")["record"]

    for rid in (record_id, later):  # the later one is signed by the rotated key
        page.goto(f"{node.url}/explorer/records/{rid}")
        assert verdict(page) == "ok", failed_checks(page)
        expect(page.locator("#checks li.ok")).to_have_count(5)
    expect(page.locator("#verdict")).to_contain_text("Verified")
    assert split_words(page) == {"desktop": [], "phone": []}
    screenshot(page, tmp_path, "explorer-record", docs=("desktop", "phone"))

    def tampered(pattern: Any, change: Any, shot: str | None = None) -> list[str]:
        context = browser.new_context(viewport=DESKTOP)
        try:
            tab = context.new_page()

            def handle(route: Route) -> None:
                response = route.fetch()
                if response.headers["content-type"] == "application/json":
                    route.fulfill(response=response, body=json.dumps(change(response.json())))
                else:  # the checkpoint (text), tiles (bytes)
                    route.fulfill(response=response, body=change(response.body()))

            tab.route(pattern, handle)
            tab.goto(f"{node.url}/explorer/records/{record_id}")
            assert verdict(tab) == "fail"
            expect(tab.locator("#verdict")).to_contain_text("Not verified")
            if shot:
                screenshot(tab, tmp_path, shot, docs=("desktop",))
            return failed_checks(tab)
        finally:
            context.close()

    def other_field(body: dict[str, Any]) -> dict[str, Any]:
        body["record"] = body["record"].replace('"field":"expertise"', '"field":"expertisf"')
        return body

    failed = tampered(re.compile(r"/v1/records/[^/?]+$"), other_field, "explorer-tampered")
    assert any(f.startswith("record bytes hash to its id") for f in failed), failed
    assert any(f.startswith("included in the signed tree") for f in failed), failed
    assert any(f.startswith("signed by its author") for f in failed), failed

    def flip_tile(body: bytes) -> bytes:  # every hash of the level 0 tile changes
        return bytes(b ^ 1 for b in body)

    failed = tampered(re.compile(r"/tile/0/"), flip_tile)
    assert [f.split(":")[0] for f in failed] == ["included in the signed tree"], failed

    def forge_head(body: bytes) -> bytes:
        lines = body.decode().split("\n")
        root = bytearray(base64.b64decode(lines[2]))
        root[0] ^= 1
        lines[2] = base64.b64encode(bytes(root)).decode()
        return "\n".join(lines).encode()

    failed = tampered("**/checkpoint", forge_head)
    assert any(f.startswith("checkpoint signed by the log key") for f in failed), failed

    def other_key(body: dict[str, Any]) -> dict[str, Any]:
        body["log_key"] = "11" * 32
        return body

    failed = tampered("**/v1/health", other_key)
    assert any(f.startswith("checkpoint signed by the log key") for f in failed), failed


def test_explorer_pages_escape_and_refuse_unknowns(node: Node, page: Any) -> None:
    response = page.goto(node.url + "/explorer/records/sha256:" + "0" * 64)
    assert response is not None and response.status == 404
    evil = "did:key:<img src=x onerror=alert(1)>"
    response = httpx.get(node.url + "/explorer/members/" + evil)
    assert response.status_code == 404
    assert evil not in response.text and "&lt;img src=x onerror=alert(1)&gt;" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(node.url + "/explorer/static/../app.py").status_code == 404
    schema = httpx.get(node.url + "/v1/openapi.json").json()
    assert not any(p.startswith("/explorer") for p in schema["paths"])


def test_anchor_links_go_to_a_public_explorer_only_for_public_chains() -> None:
    tx = "0x" + "ab" * 32
    assert explorer.tx_url(11155111, tx) == "https://sepolia.etherscan.io/tx/" + tx
    assert explorer.tx_url(1, tx) == "https://etherscan.io/tx/" + tx
    assert explorer.tx_url(31337, tx) is None  # anvil, the in-process chain: no public page
