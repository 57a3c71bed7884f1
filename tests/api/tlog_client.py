"""An independent tlog-tiles client, written from the C2SP texts, not from the node's code.

c2sp.org/tlog-tiles (paths, tiles, entry bundles), c2sp.org/tlog-checkpoint and
c2sp.org/signed-note (the checkpoint and its Ed25519 signature), RFC 6962 §2.1 (hashing and
audit paths).  It imports nothing from the project: hashlib for SHA-256, httpx for HTTP and
PyNaCl for the Ed25519 verification primitive alone.  Everything it knows of the log comes
from ``/checkpoint`` and ``/tile/...``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import httpx
import nacl.exceptions
import nacl.signing


class VerificationFailed(Exception):
    """The log served something that does not verify."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def parent(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


# --- signed note and checkpoint ------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    key: nacl.signing.VerifyKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """``<name>+<hex key id>+<base64(0x01 || Ed25519 key)>``, its key id checked."""
        name, key_id_hex, blob_text = vkey.split("+", 2)  # names hold no "+"; base64 may
        blob = base64.b64decode(blob_text, validate=True)
        if len(blob) != 33 or blob[0] != 0x01:
            raise VerificationFailed("not an Ed25519 verifier key")
        key_id = sha256(name.encode() + b"\n" + blob)[:4]
        if key_id.hex() != key_id_hex:
            raise VerificationFailed("verifier key id does not match its key")
        return cls(name, key_id, nacl.signing.VerifyKey(blob[1:]))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: bytes, verifier: Verifier) -> Checkpoint:
    """The checkpoint, if one of the note's signatures is the verifier's and verifies."""
    text = note.decode("utf-8")
    body, _, signatures = text.rpartition("\n\n")
    body += "\n"
    good = False
    for line in signatures.rstrip("\n").split("\n"):
        prefix = "\u2014 " + verifier.name + " "
        if not line.startswith(prefix):
            continue
        blob = base64.b64decode(line[len(prefix):], validate=True)
        if blob[:4] != verifier.key_id:
            continue
        try:
            verifier.key.verify(body.encode(), blob[4:])
        except nacl.exceptions.BadSignatureError:
            raise VerificationFailed("the checkpoint's signature does not verify") from None
        good = True
    if not good:
        raise VerificationFailed("no signature by the log's key")
    origin, size, root = body.split("\n")[:3]
    if origin != verifier.name:
        raise VerificationFailed(f"checkpoint of {origin}, not {verifier.name}")
    return Checkpoint(origin, int(size), base64.b64decode(root, validate=True))


# --- tiles ---------------------------------------------------------------------------------


def index_path(n: int) -> str:
    parts = []
    while True:
        parts.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    return "/".join(["x" + p for p in reversed(parts[1:])] + [parts[0]])


def tile_path(level: int | str, n: int, width: int) -> str:
    suffix = "" if width == 256 else f".p/{width}"
    return f"/tile/{level}/{index_path(n)}{suffix}"


class TileClient:
    """Computes Merkle tree hashes of the tree of a verified checkpoint from its tiles."""

    def __init__(self, http: httpx.Client, checkpoint: Checkpoint) -> None:
        self.http, self.size = http, checkpoint.size
        self.tiles: dict[tuple[int, int], list[bytes]] = {}
        self.fetched: list[str] = []

    def get(self, path: str) -> bytes:
        response = self.http.get(path)
        if response.status_code != 200:
            raise VerificationFailed(f"{path}: HTTP {response.status_code}")
        if response.headers["content-type"] != "application/octet-stream":
            raise VerificationFailed(f"{path}: content type {response.headers['content-type']}")
        self.fetched.append(path)
        return response.content

    def width(self, level: int, n: int) -> int:
        return min(256, (self.size // 256**level) - n * 256)

    def tile(self, level: int, n: int) -> list[bytes]:
        """Tile (level, n) at the width this checkpoint's tree has it."""
        if (level, n) not in self.tiles:
            width = self.width(level, n)
            data = self.get(tile_path(level, n, width))
            if len(data) != 32 * width:
                raise VerificationFailed(f"tile {level}/{n} is {len(data)} bytes")
            self.tiles[(level, n)] = [data[i:i + 32] for i in range(0, len(data), 32)]
        return self.tiles[(level, n)]

    def perfect(self, height: int, start: int) -> bytes:
        """MTH(D[start : start + 2**height]), a perfect subtree, from one tile."""
        level, below = divmod(height, 8)
        first = start // 256**level  # position of its first hash at the tile level
        tile = self.tile(level, first // 256)
        hashes = tile[first % 256:first % 256 + 2**below]
        if len(hashes) != 2**below:
            raise VerificationFailed("a tile is too short for the tree it should hold")
        while len(hashes) > 1:
            hashes = [parent(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def mth(self, start: int, end: int) -> bytes:
        """RFC 6962 MTH(D[start:end]), split where the RFC splits it."""
        n = end - start
        if n == 0:
            return sha256(b"")
        if n & (n - 1) == 0:
            return self.perfect(n.bit_length() - 1, start)
        k = 1 << ((n - 1).bit_length() - 1)
        return parent(self.mth(start, start + k), self.mth(start + k, end))

    def audit_path(self, m: int, start: int, end: int) -> list[bytes]:
        """RFC 6962 PATH(m, D[start:end])."""
        n = end - start
        if n <= 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return [*self.audit_path(m, start, start + k), self.mth(start + k, end)]
        return [*self.audit_path(m - k, start + k, end), self.mth(start, start + k)]

    def entries(self, n: int) -> list[bytes]:
        """Entry bundle n at this tree's width, each entry checked against level 0 tile n."""
        width = self.width(0, n)
        data = self.get(tile_path("entries", n, width))
        out, pos = [], 0
        while pos < len(data):
            length = int.from_bytes(data[pos:pos + 2], "big")
            out.append(data[pos + 2:pos + 2 + length])
            pos += 2 + length
        if pos != len(data) or len(out) != width:
            raise VerificationFailed(f"entry bundle {n} is not {width} framed entries")
        if [leaf(e) for e in out] != self.tile(0, n):
            raise VerificationFailed(f"entry bundle {n} does not hash to level 0 tile {n}")
        return out


def root_from_path(leaf_hash: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """The root an RFC 6962 audit path implies (rebuilt top-down, as the RFC defines PATH)."""
    if n == 1:
        if path:
            raise VerificationFailed("audit path too long")
        return leaf_hash
    if not path:
        raise VerificationFailed("audit path too short")
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return parent(root_from_path(leaf_hash, m, k, path[:-1]), path[-1])
    return parent(path[-1], root_from_path(leaf_hash, m - k, n - k, path[:-1]))


def verify_inclusion(client: TileClient, entry: bytes, index: int, root: bytes) -> None:
    """Raise unless ``entry`` is at ``index`` in the tree the checkpoint signed."""
    path = client.audit_path(index, 0, client.size)
    if root_from_path(leaf(entry), index, client.size, path) != root:
        raise VerificationFailed(f"entry {index} is not in the tree of size {client.size}")
