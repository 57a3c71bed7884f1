"""The log as C2SP tlog-tiles (c2sp.org/tlog-tiles): ``/checkpoint`` and ``/tile/...``.

Static-looking resources any cache or CDN can serve: a full tile or bundle never changes
(cached for a year, ``immutable``); a partial one is cached briefly; the checkpoint for two
seconds.  A client verifies the checkpoint's signature, then computes any proof from tiles.
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from ledger import tiles
from ledger.store.tiles import TileStore
from ledger.tiles import Tile
from passport_api.problems import responses
from passport_api.routes.records import ledger_of

router = APIRouter(tags=["tiles"])
CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
CACHE_CHECKPOINT = "public, max-age=2"
CACHE_FULL = "public, max-age=31536000, immutable"
CACHE_PARTIAL = "public, max-age=60"
TILE_PROBLEMS = ("invalid-tile-path", "out-of-range")
_BINARY: dict[str, Any] = {TILE_TYPE: {"schema": {"type": "string", "format": "binary"}}}
TileIndex = Annotated[str, Path(description="N as 3-digit path elements, all but the last "
                                            "prefixed x, then .p/<W> for a partial tile",
                                examples=["x001/x234/067", "001.p/44"])]


def tiles_of(request: Request) -> TileStore:
    store: TileStore = request.app.state.tiles
    return store


@router.get("/checkpoint", response_class=Response,
            summary="The latest signed tree head, as a C2SP checkpoint (signed note)",
            responses={200: {"description": "the checkpoint", "content": {
                CHECKPOINT_TYPE: {"schema": {"type": "string"}}}}})
def checkpoint(request: Request) -> Response:
    note = ledger_of(request).latest_tree_head().note
    return Response(note, media_type=CHECKPOINT_TYPE, headers={"Cache-Control": CACHE_CHECKPOINT})


@router.get("/tile/entries/{n:path}", response_class=Response,
            summary="Entry bundle N: up to 256 records' canonical bytes, each after its "
                    "big-endian uint16 length",
            responses={200: {"description": "the bundle (gzip if accepted)", "content": _BINARY},
                       **responses(*TILE_PROBLEMS)})
def entry_bundle(n: TileIndex, request: Request) -> Response:
    tile = tiles.parse_path(f"tile/entries/{n}")
    data = tiles_of(request).read(tile)
    headers = _cache(tile)
    headers["Vary"] = "Accept-Encoding"
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        data = gzip.compress(data, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=TILE_TYPE, headers=headers)


@router.get("/tile/{level}/{n:path}", response_class=Response,
            summary="Hash tile N at level L: 256 (or W) Merkle hashes of height 8L, 32 bytes "
                    "each",
            responses={200: {"description": "the hashes, concatenated", "content": _BINARY},
                       **responses(*TILE_PROBLEMS)})
def hash_tile(level: Annotated[str, Path(description="0 to 63", examples=["0"])],
              n: TileIndex, request: Request) -> Response:
    tile = tiles.parse_path(f"tile/{level}/{n}")
    return Response(tiles_of(request).read(tile), media_type=TILE_TYPE, headers=_cache(tile))


def _cache(tile: Tile) -> dict[str, str]:
    return {"Cache-Control": CACHE_FULL if tile.full else CACHE_PARTIAL}


def _accepts_gzip(accept_encoding: str) -> bool:
    """``gzip`` (or ``*``) listed in Accept-Encoding without ``q=0``."""
    for item in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if coding in ("gzip", "*"):
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
                           for p in params)
    return False
