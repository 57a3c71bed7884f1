"""A real node's log read as C2SP tlog-tiles by an independent client (tests/api/tlog_client.py).

The node runs as its own process (SQLite and PostgreSQL); the log grows in this process,
through the same database, to the sizes where tiles turn partial or full (1, 255, 256, 257,
300, 513, 600).  At each size the client verifies the checkpoint's signature with the node's
key, recomputes the root from tiles, reads every entry bundle and proves records included
from tiles alone.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterator

import httpx
import nacl.signing
import pytest

from ledger import keys
from ledger.chain import Author
from ledger.store.ledger import Ledger
from ledger.store.logkey import load_or_create_log_key
from tests.api import tlog_client as tc
from tests.api.conftest import Node

SIZES = (1, 255, 256, 257, 300, 513, 600)
IMMUTABLE = "public, max-age=31536000, immutable"


def vkey_of(origin: str, key: nacl.signing.VerifyKey) -> str:
    """The signed-note verifier key, computed here from the node's key file."""
    blob = b"\x01" + bytes(key)
    key_id = hashlib.sha256(origin.encode() + b"\n" + blob).digest()[:4]
    return f"{origin}+{key_id.hex()}+{base64.b64encode(blob).decode()}"


class GrowingLog:
    """The node's log, appended to in this process with the node's own log key."""

    def __init__(self, node: Node) -> None:
        self.ledger = Ledger.open(node.db, log_key=load_or_create_log_key(node.home),
                                  verify_workers=0)
        self.authors = [Author(keys.generate()) for _ in range(7)]
        self.raws: list[bytes] = []

    def grow_to(self, size: int) -> None:
        fresh = [self.authors[i % 7].next("passport.clear", {"field": "email"}).raw
                 for i in range(len(self.raws), size)]
        if fresh:
            self.ledger.append_batch(fresh)
            self.raws += fresh


@pytest.fixture(scope="module")
def grown(node: Node) -> Iterator[GrowingLog]:
    log = GrowingLog(node)
    yield log
    log.ledger.close()


@pytest.fixture(scope="module")
def verifier(node: Node, grown: GrowingLog) -> tc.Verifier:
    key = load_or_create_log_key(node.home).verify_key
    vkey = vkey_of(grown.ledger.origin, key)
    assert httpx.get(f"{node.url}/v1/health").json()["vkey"] == vkey
    return tc.Verifier.parse(vkey)


def checkpoint(http: httpx.Client, verifier: tc.Verifier) -> tc.Checkpoint:
    response = http.get("/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=2"
    return tc.open_checkpoint(response.content, verifier)


def test_the_empty_log_has_a_checkpoint_and_no_tiles(http: httpx.Client, grown: GrowingLog,
                                                     verifier: tc.Verifier) -> None:
    head = checkpoint(http, verifier)
    assert (head.size, head.root) == (0, hashlib.sha256(b"").digest())
    for path in ("/tile/0/000.p/1", "/tile/entries/000.p/1", "/tile/0/000"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json()["type"] == "/v1/problems/out-of-range"


@pytest.mark.parametrize("size", SIZES)
def test_a_client_verifies_the_log_from_tiles_alone(http: httpx.Client, grown: GrowingLog,
                                                    verifier: tc.Verifier, size: int) -> None:
    grown.grow_to(size)
    head = checkpoint(http, verifier)
    assert head.size == size
    client = tc.TileClient(http, head)
    assert client.mth(0, size) == head.root
    entries = [e for n in range(-(-size // 256)) for e in client.entries(n)]
    assert entries == grown.raws[:size]  # each the record's canonical bytes, in log order
    for index in {0, size // 2, size - 1}:
        tc.verify_inclusion(client, grown.raws[index], index, head.root)
    assert all(path.startswith("/tile/") for path in client.fetched)
    forged = grown.raws[size - 1].replace(b"email", b"phone")
    with pytest.raises(tc.VerificationFailed, match="is not in the tree"):
        tc.verify_inclusion(client, forged, size - 1, head.root)
    if size > 1:  # a record placed at another index does not verify either
        with pytest.raises(tc.VerificationFailed):
            tc.verify_inclusion(client, grown.raws[0], 1, head.root)
    check_widths(http, size)


def check_widths(http: httpx.Client, size: int) -> None:
    """Full tiles immutable, the partial one short-lived, nothing past the tree."""
    full0, partial0 = divmod(size, 256)
    for n in range(full0):
        response = http.get(tc.tile_path(0, n, 256))
        assert response.status_code == 200 and len(response.content) == 8192
        assert response.headers["cache-control"] == IMMUTABLE
        level0 = response.content
    if partial0:
        response = http.get(tc.tile_path(0, full0, partial0))
        assert response.status_code == 200 and len(response.content) == 32 * partial0
        assert response.headers["cache-control"] == "public, max-age=60"
        assert http.get(tc.tile_path(0, full0, partial0 + 1)).status_code == 404
        assert http.get(tc.tile_path(0, full0, 256)).status_code == 404
    assert http.get(tc.tile_path(0, full0 + 1, 1)).status_code == 404
    if full0:  # a level 1 tile holds the Merkle hash of each full level 0 tile
        response = http.get(tc.tile_path(1, 0, full0))
        assert response.status_code == 200
        hashes = [level0[i:i + 32] for i in range(0, 8192, 32)]
        while len(hashes) > 1:
            hashes = [tc.parent(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        assert response.content[-32:] == hashes[0]
        assert http.get(tc.tile_path(1, 0, full0 + 1)).status_code == 404
    else:
        assert http.get(tc.tile_path(1, 0, 1)).status_code == 404


def test_old_partial_tiles_stay_and_bundles_are_gzipped(http: httpx.Client, grown: GrowingLog
                                                        ) -> None:
    grown.grow_to(SIZES[-1])
    old = http.get("/tile/0/000.p/5")  # what a client of the size-5 checkpoint would ask for
    full = http.get("/tile/0/000")
    assert old.status_code == full.status_code == 200
    assert old.content == full.content[:160]
    with http.stream("GET", "/tile/entries/001", headers={"Accept-Encoding": "gzip"}) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["cache-control"] == IMMUTABLE
        compressed = b"".join(zipped.iter_raw())
    plain = http.get("/tile/entries/001", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(compressed) == plain.content
    assert len(compressed) < len(plain.content)
    assert tiles_entries(plain.content) == grown.raws[256:512]


@pytest.mark.parametrize("path", ["/tile/00/000", "/tile/0/1", "/tile/0/x000/001",
                                  "/tile/0/000.p/0", "/tile/0/000.p/256", "/tile/64/000",
                                  "/tile/entries/000.p/01", "/tile/0/x001"])
def test_paths_outside_the_layout_are_404_problems(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/v1/problems/invalid-tile-path"


def tiles_entries(bundle: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(bundle):
        length = int.from_bytes(bundle[pos:pos + 2], "big")
        out.append(bundle[pos + 2:pos + 2 + length])
        pos += 2 + length
    return out
