"""The desk kiosk: the current check-in challenge (QR and text) and today's check-ins.

Served by the space's own wallet process (``passport desk serve``), so the space's key stays
on its machine.  The page polls ``/panel`` every few seconds; each poll asks the node (public
``/v1/checkin/status``) whether the challenges on show are still open.  A used one triggers
``desk_verify`` for that challenge only (one scoped read per new check-in, not one per poll),
and a new challenge; one about to expire is replaced.  What a check-in shows is what
``desk_verify`` returns: the member's did and the fields the member granted to this space, or,
for a check-in that does not verify, the reason, beside the others: one member's bad check-in
never stops the kiosk issuing challenges or showing anyone else.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import segno
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ledger.times import format_ts, now_ms
from wallet import checkin as ck
from wallet.addressbook import AddressBook, learn
from wallet.errors import WalletError
from wallet.keeper import talking_to
from wallet.names import Names, local_time, short_did
from wallet.wallet import Wallet
from wallet.web.server import Guard, build_app, render

DAY_MS = 86_400_000
REPLACE_BEFORE_EXPIRY_MS = 20_000  # a member scanning now still has time to answer
POLL_MS = 2_000


@dataclass
class Shown:
    challenge: ck.Challenge
    nonce_hash: str


class Desk:
    """The kiosk's state over one desk wallet; every wallet call holds the lock."""

    def __init__(self, wallet: Wallet, name: str) -> None:
        self.wallet, self.name = wallet, name
        self.lock = threading.Lock()
        self.open: list[Shown] = []  # challenges issued here and not yet known used or expired
        self.checkins: dict[str, dict[str, Any]] = {}
        self.day_start_ms = -1
        self.problem: str | None = None
        self.names: Names | None = None  # who members are, for the page (see ``named``)

    def state(self) -> tuple[ck.Challenge, list[dict[str, Any]]]:
        with self.lock:
            now = now_ms()
            day = now - now % DAY_MS
            if day != self.day_start_ms:  # first call, or a new day (UTC): today's list
                self.day_start_ms, self.checkins = day, {}
                self._verify(day)
            closed = [s for s in self.open if not self._still_open(s)]
            if closed:
                listed = self._listed()
                answered = [c for c in listed if c["answered_by"] is not None
                            and c["nonce_hash"] in {s.nonce_hash for s in closed}]
                if answered:
                    self._verify(min(int(c["created_ms"]) for c in answered))
            self.open = [s for s in self.open
                         if s not in closed and s.challenge.expires_ms > now]
            if not self.open or (self.open[-1].challenge.expires_ms - REPLACE_BEFORE_EXPIRY_MS
                                 <= now):
                issued = ck.issue(self.wallet)
                self.open.append(Shown(issued, ck.nonce_hash(issued.nonce)))
            listed = sorted(self.checkins.values(), key=lambda c: c.get("at") or "", reverse=True)
            return self.open[-1].challenge, listed

    def _still_open(self, shown: Shown) -> bool:
        with talking_to(self.wallet.node):
            status = self.wallet.client.checkin_status(shown.nonce_hash)
        return bool(status["open"])

    def _listed(self) -> list[dict[str, Any]]:
        with talking_to(self.wallet.node):
            listed = self.wallet.client.checkin_challenges(self.day_start_ms)
        return listed

    def _verify(self, since_ms: int) -> None:
        self.wallet.sync()
        for seen in ck.desk_verify(self.wallet, since_ms, known=self.checkins):
            self.checkins[seen["checkin"]] = seen


def qr_svg(text: str) -> str:
    """The challenge as an inline SVG QR code (segno; error correction M)."""
    svg: str = segno.make(text, error="m", micro=False).svg_inline(
        scale=4, border=4, dark="#000", light="#fff", omitsize=True)
    return svg


def _context(desk: Desk, token: str) -> dict[str, Any]:
    try:
        challenge, checkins = desk.state()
    except WalletError as e:
        return {"problem": str(e), "token": token, "name": desk.name, "did": desk.wallet.did,
                "poll_ms": POLL_MS}
    text = challenge.token()
    shown = [named(desk, c) for c in checkins]
    people = {c["member"] for c in shown if "refused" not in c}
    return {"problem": None, "token": token, "name": desk.name, "did": desk.wallet.did,
            "challenge": text, "qr": qr_svg(text), "expires": format_ts(challenge.expires_ms),
            "expires_local": local_time(challenge.expires_ms), "checkins": shown,
            "people": len(people), "visits": sum(1 for c in shown if "refused" not in c),
            "poll_ms": POLL_MS}


def named(desk: Desk, seen: dict[str, Any]) -> dict[str, Any]:
    """A check-in as the kiosk shows it: the member by the name they granted this space (kept
    in the desk's own address book), else a name the desk knows, else unknown; local time."""
    if "member" not in seen:
        return seen
    did = seen["member"]
    granted = seen.get("fields", {}).get("name")
    if isinstance(granted, str) and granted.strip():
        learn(desk.wallet.home, did, granted, "check-in")
        who: str | None = granted
    else:  # looked up once per kiosk run (the directory, then the desk's contacts)
        if desk.names is None:
            desk.names = Names(desk.wallet.client, AddressBook.load(desk.wallet.home))
        who = desk.names.of(did).name
    return {**seen, "who": who, "short": short_did(did), "at_local": local_time(seen["at"]),
            "shown_fields": {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                             for k, v in seen.get("fields", {}).items() if k != "name"}}


def create_app(desk: Desk, guard: Guard) -> Starlette:
    def page(request: Request) -> HTMLResponse:
        return render("kiosk.html", **_context(desk, guard.token))

    def panel(request: Request) -> HTMLResponse:
        return render("kiosk_panel.html", **_context(desk, guard.token))

    return build_app([Route("/", page), Route("/panel", panel)], guard)
