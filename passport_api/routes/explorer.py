"""The ledger explorer: public, read-only HTML pages under /explorer.

It shows what the public API already serves, as metadata: the latest signed tree head, the
anchors on Ethereum, a record's type, author, seq and time and the names of the fields it
touches, and a member's chain the same way.  Never a value, a blob, a wrapped key or a sealed
envelope.  The record page does not ask the reader to trust this node: its script fetches the
record from /v1, the checkpoint from /checkpoint and the Merkle tiles from /tile/ (C2SP
tlog-tiles), computes the inclusion proof from the tiles and checks it all in the browser
(WebCrypto Ed25519 and SHA-256, ``static/explorer.js``).  The pages are left out of the
OpenAPI schema.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import nacl.signing
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.checkpoint import vkey_line
from ledger.errors import LedgerError
from ledger.records import parse_record
from ledger.store import directory
from ledger.store.anchors import AnchorStore
from ledger.store.ledger import Ledger
from ledger.times import format_ts
from passport_api.routes.records import ledger_of

router = APIRouter(prefix="/explorer", include_in_schema=False)
LATEST_RECORDS = 12
ANCHORS_SHOWN = 20
CHAIN_PAGE = 1000
MAX_CHAIN_SHOWN = 5000
STATIC = {"explorer.js": "text/javascript; charset=utf-8",
          "times.js": "text/javascript; charset=utf-8",
          "explorer.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
# Where a transaction of a public chain can be looked at; other chains show the hash only.
TX_EXPLORERS = {1: "https://etherscan.io/tx/", 11155111: "https://sepolia.etherscan.io/tx/",
                17000: "https://holesky.etherscan.io/tx/",
                560048: "https://hoodi.etherscan.io/tx/"}
FIELD_KEYS = {"passport.set": "field", "passport.clear": "field"}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("passport_api", "templates/explorer"),
    autoescape=True, undefined=jinja2.StrictUndefined)


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def names_of(ledger: Ledger) -> dict[str, dict[str, str]]:
    """Organisations' public names (their latest profile), by did: members have none."""
    out = {}
    for did, stored in directory.latest_profiles(ledger.engine).items():
        body = parse_record(stored.raw).body
        out[did] = {"name": str(body["name"]), "kind": str(body["kind"])}
    return out


def short(did: str) -> str:
    ident = did.removeprefix("did:key:")
    return ident if len(ident) <= 13 else f"{ident[:8]}…{ident[-4:]}"


def metadata(raw: bytes, index: int, names: dict[str, dict[str, str]] | None = None
             ) -> dict[str, Any]:
    """What the explorer shows of a record: never a value, blob, key or sealed part."""
    rec = parse_record(raw)
    body = rec.body
    if rec.type in FIELD_KEYS:
        fields = [str(body[FIELD_KEYS[rec.type]])]
    elif rec.type == "consent.grant":
        fields = [str(f) for f in body["fields"]]
    else:
        fields = []
    named = (names or {}).get(rec.author, {})
    return {"id": rec.id, "index": index, "author": rec.author, "seq": rec.seq, "ts": rec.ts,
            "type": rec.type, "fields": fields, "author_name": named.get("name"),
            "author_kind": named.get("kind"), "author_short": short(rec.author)}


def tx_url(chain_id: int, tx_hash: str) -> str | None:
    """A public block explorer's page for the transaction, if the chain has a known one."""
    base = TX_EXPLORERS.get(chain_id)
    return None if base is None else base + tx_hash


@router.get("", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    ledger = ledger_of(request)
    sth = ledger.latest_tree_head()
    head = sth.head
    names = names_of(ledger)
    latest = [metadata(s.raw, s.index, names)
              for s in reversed(ledger.records_range(max(head.size - LATEST_RECORDS, 0),
                                                     head.size))]
    anchors = [{"size": a.tree_size, "status": a.status, "chain_id": a.chain_id,
                "block": a.block_number, "tx": "0x" + a.tx_hash.hex(), "contract": a.contract,
                "tx_url": tx_url(a.chain_id, "0x" + a.tx_hash.hex())}
               for a in AnchorStore(ledger.engine).list(limit=ANCHORS_SHOWN)]
    return _page("index.html", head={"origin": head.origin, "size": head.size,
                                     "time": format_ts(head.timestamp_ms),
                                     "checkpoint": sth.note.decode("utf-8")},
                 log_key=ledger.public_key.hex(),
                 vkey=vkey_line(ledger.origin, nacl.signing.VerifyKey(ledger.public_key)),
                 anchors=anchors, latest=latest)


@router.get("/", include_in_schema=False)
def home_slash() -> RedirectResponse:
    """The explorer's one page with a trailing slash: the node redirects no other route."""
    return RedirectResponse("/explorer", status_code=308)


@router.get("/find")
def find(q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The search box: a record id or a member's did."""
    text = q.strip()
    if text.startswith("did:"):
        return RedirectResponse(f"/explorer/members/{quote(text, safe=':')}", status_code=303)
    if text:
        return RedirectResponse(f"/explorer/records/{quote(text, safe=':')}", status_code=303)
    return RedirectResponse("/explorer", status_code=303)


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record(record_id: Annotated[str, Path(max_length=200)], request: Request) -> HTMLResponse:
    try:
        stored = ledger_of(request).record(record_id)
    except LedgerError as e:
        return _page("missing.html", status=404, what=str(e))
    meta = metadata(stored.raw, stored.index, names_of(ledger_of(request)))
    return _page("record.html", record=meta)


@router.get("/members/{did}", response_class=HTMLResponse)
def member(did: Annotated[str, Path(max_length=200)], request: Request) -> HTMLResponse:
    ledger = ledger_of(request)
    rows: list[dict[str, Any]] = []
    try:
        after = 0
        while len(rows) < MAX_CHAIN_SHOWN:
            page = ledger.chain(did, after_seq=after, limit=CHAIN_PAGE)
            rows.extend(metadata(s.raw, s.index) for s in page)
            if len(page) < CHAIN_PAGE:
                break
            after = page[-1].record.seq
    except LedgerError as e:
        return _page("missing.html", status=404, what=str(e))
    if not rows:
        return _page("missing.html", status=404, what=f"no chain for {did} on this node")
    named = names_of(ledger).get(did, {})
    return _page("member.html", did=did, records=rows, truncated=len(rows) >= MAX_CHAIN_SHOWN,
                 public_name=named.get("name"), kind=named.get("kind"))


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("passport_api").joinpath("static", name).read_bytes()
    return Response(data, media_type=STATIC[name],
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
