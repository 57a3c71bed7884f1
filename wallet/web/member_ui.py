"""The member's own page (``passport ui``): fields, grants with a revoke button, receipts.

Served on loopback by the member's wallet process, which holds the keys; the browser gets
only HTML.  Every page is read fresh from the node (a sync, which checks the node's tree head),
so what the page shows is what the CLI would show.  The revoke POST needs the page token in
its form (``csrf``) besides the URL, and, when the browser sends an Origin, a loopback one.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ledger.times import format_ts, now_ms
from wallet.addressbook import AddressBook
from wallet.errors import WalletError
from wallet.names import Names, local_time, short_did
from wallet.wallet import Wallet, grant_json
from wallet.web.server import LOCAL_HOSTS, Guard, build_app, render

MAX_FLASH_CHARS = 300
MAX_FORM_BYTES = 4096


def _origin_is_local(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every browser for same-origin form posts; the token decides
    scheme, _, rest = origin.partition("://")
    return scheme == "http" and rest.rsplit(":", 1)[0] in LOCAL_HOSTS


def snapshot(wallet: Wallet) -> dict[str, Any]:
    """What the page shows, read now: fields with their readers, grants, receipts; every
    party by name (directory, then the member's contacts) and every time in local time."""
    wallet.sync()
    now = now_ms()
    view = wallet.view()
    names = Names(wallet.client, AddressBook.load(wallet.home))

    def who(did: str) -> dict[str, Any]:
        party = names.of(did)
        return {"did": did, "name": party.name, "kind": party.kind, "short": short_did(did)}

    fields = [{"name": name, "value": None if v.erased else value_text(v.value),
               "erased": v.erased, "set_at": v.ts, "set_at_local": local_time(v.ts),
               "readers": [who(d) for d in sorted({g.grantee for g in view.grants.values()
                                                   if g.live(now) and g.covers(name)})]}
              for name, v in wallet.fields().items()]
    grants = sorted(({**grant_json(g, now), "party": who(g.grantee),
                      "expires_local": local_time(g.expires_ms)} for g in view.grants.values()),
                    key=lambda g: g["granted"], reverse=True)
    receipts = sorted(({**r, "party": who(r["service"]), "served_local": local_time(r["served"])}
                       for r in wallet.receipts()), key=lambda r: r["served"], reverse=True)
    return {"did": wallet.did, "fields": fields, "grants": grants, "receipts": receipts,
            "now": format_ts(now), "now_local": local_time(now)}


def value_text(value: Any) -> str:
    """Text as is, anything structured as JSON (never Python's repr)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True)


def create_app(wallet: Wallet, guard: Guard) -> Starlette:
    lock = threading.Lock()

    def page(request: Request) -> Response:
        flash = request.query_params.get("done", "")[:MAX_FLASH_CHARS]
        try:
            with lock:
                data = snapshot(wallet)
        except WalletError as e:
            return render("member.html", status=502, problem=str(e), token=guard.token,
                          flash=flash, did=wallet.did)
        return render("member.html", problem=None, token=guard.token, flash=flash, **data)

    def do_revoke(gid: str) -> None:
        with lock:
            wallet.sync()
            wallet.revoke(gid)

    async def revoke(request: Request) -> Response:
        body = await request.body()
        form = parse_qs(body.decode("utf-8", "replace")) if len(body) <= MAX_FORM_BYTES else {}
        csrf = next(iter(form.get("csrf", [])), None)
        gid = next(iter(form.get("grant", [])), None)
        if not guard.matches(csrf) or not _origin_is_local(request):
            return PlainTextResponse("refused: this form did not come from your wallet's page",
                                     status_code=403)
        if gid is None:
            return PlainTextResponse("no grant named", status_code=400)
        try:
            await run_in_threadpool(do_revoke, gid)
            done = f"grant {gid} revoked"
        except WalletError as e:
            done = f"could not revoke {gid}: {e}"
        return RedirectResponse("/?" + urlencode({"token": guard.token, "done": done}),
                                status_code=303)

    return build_app([Route("/", page), Route("/revoke", revoke, methods=["POST"])], guard)
