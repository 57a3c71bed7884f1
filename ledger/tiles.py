"""The log as C2SP tlog-tiles (c2sp.org/tlog-tiles): tile coordinates, paths and formats.

A tile is 8 levels of the Merkle tree cut horizontally: tile ``(L, N)`` holds the hashes of the
perfect nodes ``(8L, 256N + i)`` for ``i`` in ``0..255``, concatenated, 32 bytes each.  Level 0
tiles hold leaf hashes; the entry bundle ``N`` holds the entries behind level 0 tile ``N``, each
prefixed with its length as a big-endian uint16.  The rightmost tiles of a tree are *partial*
(``.p/<W>``, 1 to 255 hashes); a partial tile's hashes never change, it only grows.

Pure arithmetic and encodings: which stored nodes make a tile, whether a tree of a given size
holds a tile, and how any node (so any RFC 9162 proof) is computed from the tiles alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import ProofError, RangeError, TilePathError
from ledger.merkle import HASH_SIZE, NodeId, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile
MAX_LEVEL = 63
MAX_ENTRY_BYTES = 0xFFFF  # an entry's length is a uint16
_MAX_INDEX_GROUPS = 7  # 1000**7 > 2**64: no tile index needs more


@dataclass(frozen=True)
class Tile:
    """Hash tile ``(level, index)``, or entry bundle ``index`` when ``level`` is None, holding
    ``width`` hashes (entries): 256 for a full tile, 1 to 255 for a partial one."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise TilePathError(f"tile level {self.level} is not between 0 and {MAX_LEVEL}")
        if self.index < 0 or self.index >= 1000 ** _MAX_INDEX_GROUPS:
            raise TilePathError(f"tile index {self.index} is out of range")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TilePathError(f"tile width {self.width} is not between 1 and {TILE_WIDTH}")

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        return self.level is None

    @property
    def hash_level(self) -> int:
        """The Merkle level of the tile's hashes (of the leaves behind an entry bundle)."""
        return TILE_HEIGHT * (self.level or 0)

    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``, relative to the prefix."""
        level = "entries" if self.level is None else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    def nodes(self) -> list[NodeId]:
        """The Merkle nodes whose hashes the tile holds, in order (leaves for a bundle)."""
        first = self.index * TILE_WIDTH
        return [(self.hash_level, first + i) for i in range(self.width)]


def encode_index(n: int) -> str:
    """Index 1234067 -> ``x001/x234/067``: 3-digit groups, all but the last prefixed ``x``."""
    if n < 0:
        raise TilePathError(f"tile index {n} is negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


_LEVEL = re.compile(r"0|[1-9][0-9]?", re.ASCII)
_WIDTH = re.compile(r"[1-9][0-9]{0,2}", re.ASCII)
_GROUP = re.compile(r"[0-9]{3}", re.ASCII)


def parse_index(text: str) -> int:
    """The inverse of ``encode_index``, strict: one spelling per index."""
    groups = text.split("/")
    if len(groups) > _MAX_INDEX_GROUPS:
        raise TilePathError(f"tile index {text[:60]!r} has too many path elements")
    n = 0
    for i, group in enumerate(groups):
        last = i == len(groups) - 1
        digits = group if last else group.removeprefix("x")
        if (not last and not group.startswith("x")) or not _GROUP.fullmatch(digits):
            raise TilePathError(f"tile index {text[:60]!r} is not 3-digit path elements, "
                                "all but the last starting with 'x'")
        n = n * 1000 + int(digits)
    if len(groups) > 1 and groups[0] == "x000":
        raise TilePathError(f"tile index {text[:60]!r} has a leading zero element")
    return n


def parse_path(path: str) -> Tile:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` -> the tile it names."""
    rest = path.removeprefix("/")
    if not rest.startswith("tile/"):
        raise TilePathError(f"{path[:80]!r} does not start with tile/")
    level_text, sep, rest = rest[len("tile/"):].partition("/")
    if not sep:
        raise TilePathError(f"{path[:80]!r} names no tile index")
    if level_text == "entries":
        level: int | None = None
    elif _LEVEL.fullmatch(level_text):
        level = int(level_text)
    else:
        raise TilePathError(f"tile level {level_text[:20]!r} is not a decimal from 0 to "
                            f"{MAX_LEVEL} without leading zeroes")
    width = TILE_WIDTH
    index_text, partial, width_text = rest.partition(".p/")
    if partial:
        if not _WIDTH.fullmatch(width_text) or int(width_text) >= TILE_WIDTH:
            raise TilePathError(f"partial width {width_text[:20]!r} is not a decimal from 1 "
                                f"to {TILE_WIDTH - 1} without leading zeroes")
        width = int(width_text)
    return Tile(level, parse_index(index_text), width)


# --- which tiles a tree holds ---------------------------------------------------------------


def width_in(level: int | None, index: int, size: int) -> int:
    """How many hashes (entries) of tile ``(level, index)`` a tree of ``size`` leaves has
    (0: none yet; 256: the full tile)."""
    if size < 0:
        raise RangeError(f"negative tree size {size}")
    count = size >> (TILE_HEIGHT * (level or 0))
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def check_in_tree(tile: Tile, size: int) -> None:
    """Raise ``RangeError`` unless a tree of ``size`` leaves holds ``tile`` at its width.

    A partial tile stays servable once its tile is full: its hashes are the full tile's
    first ``width``, and a client holding an older checkpoint asks for exactly those.
    """
    have = width_in(tile.level, tile.index, size)
    if have < tile.width:
        kind = "entry bundle" if tile.is_entries else f"level {tile.level} tile"
        held = f"only {have} of its" if have else "none of its"
        raise RangeError(f"{kind} {tile.index} needs {tile.width} hashes; the tree of size "
                         f"{size} has {held} {TILE_WIDTH}")


def tile_at(level: int | None, index: int, size: int) -> Tile:
    """The tile ``(level, index)`` as a tree of ``size`` leaves has it (full or partial)."""
    width = width_in(level, index, size)
    if width == 0:
        raise RangeError(f"a tree of size {size} has no tile {index} at level {level}")
    return Tile(level, index, width)


def tiles_of(size: int) -> list[Tile]:
    """Every hash tile of a tree of ``size``, level by level (the partial ones last)."""
    out: list[Tile] = []
    level = 0
    while level <= MAX_LEVEL and size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        out.extend(tile_at(level, n, size) for n in range(-(-count // TILE_WIDTH)))
        level += 1
    return out


# --- nodes from tiles -----------------------------------------------------------------------


def locate(node: NodeId) -> tuple[int, int, int, int]:
    """Where node ``(level, index)`` lives: ``(tile level, tile index, first, count)``.

    A node at level ``8L + r`` is the Merkle hash of ``2**r`` consecutive hashes of the
    level ``L`` tile, starting at ``first``.
    """
    level, index = node
    if level < 0 or index < 0:
        raise RangeError(f"no node ({level}, {index})")
    tile_level, r = divmod(level, TILE_HEIGHT)
    first = index << r
    return tile_level, first // TILE_WIDTH, first % TILE_WIDTH, 1 << r


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """The Merkle hash of a power-of-two run of sibling hashes."""
    layer = list(hashes)
    if not layer or len(layer) & (len(layer) - 1):
        raise RangeError(f"{len(layer)} hashes are not a perfect subtree")
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def split_hashes(data: bytes, width: int) -> list[bytes]:
    """A hash tile's bytes as its ``width`` hashes; a tile of any other length is refused."""
    if len(data) != width * HASH_SIZE:
        raise ProofError(f"a tile of width {width} is {width * HASH_SIZE} bytes, "
                          f"not {len(data)}")
    return [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def nodes_from_tiles(nodes: Iterable[NodeId], size: int,
                     fetch: Callable[[Tile], bytes]) -> dict[NodeId, bytes]:
    """The hashes of ``nodes`` (perfect nodes of a tree of ``size``), each tile fetched once.

    ``fetch`` returns a tile's bytes, at the width the tree of ``size`` has it: so proofs for
    a signed size need only that checkpoint's tiles, which any static cache can serve.
    """
    wanted = sorted(set(nodes))
    tiles: dict[tuple[int, int], list[bytes]] = {}
    out: dict[NodeId, bytes] = {}
    for node in wanted:
        tile_level, tile_index, first, count = locate(node)
        if (node[1] + 1) << node[0] > size:
            raise RangeError(f"node {node} is not in a tree of size {size}")
        key = (tile_level, tile_index)
        if key not in tiles:
            tile = tile_at(tile_level, tile_index, size)
            tiles[key] = split_hashes(fetch(tile), tile.width)
        out[node] = subtree_hash(tiles[key][first:first + count])
    return out


def keys_between(start: int, end: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the tiles that leaves ``[start, end)`` write to or extend."""
    out: list[tuple[int, int]] = []
    level = 0
    while 0 <= start < end and end >> (TILE_HEIGHT * level):
        shift = TILE_HEIGHT * (level + 1)
        out.extend((level, n) for n in range(start >> shift, ((end - 1) >> shift) + 1))
        level += 1
    return out


# --- stored rows: a tile with the levels inside it ------------------------------------------
#
# The store keeps each tile with its inner levels: row (L, N) of width w is the tile's w hashes
# (level 8L), then the w >> 1 nodes of level 8L + 1 above them, ... up to the w >> 7 of level
# 8L + 7.  A full tile is 511 hashes.  Any perfect node is then a slice of one row: no hashing
# when a proof is read, and the served tile is the row's first w hashes.


def row_length(width: int) -> int:
    """Bytes of a stored row whose tile has ``width`` hashes."""
    return HASH_SIZE * sum(width >> r for r in range(TILE_HEIGHT))


_WIDTH_OF = {row_length(w): w for w in range(1, TILE_WIDTH + 1)}
# where each layer of a row of width w starts, in hashes (node_in_row runs per proof node)
_LAYER_AT = {w: tuple(sum(w >> k for k in range(r)) for r in range(TILE_HEIGHT))
             for w in range(1, TILE_WIDTH + 1)}


def row_width(row: bytes) -> int | None:
    """The tile width of a stored row, None if no width gives its length."""
    return _WIDTH_OF.get(len(row))


def in_row(node: NodeId) -> tuple[int, int, int, int]:
    """Where node ``(level, index)`` is stored: ``(tile level, tile index, r, position)``,
    the node being hash ``position`` of the row's layer ``r`` (level ``8L + r``)."""
    level, index = node
    if level < 0 or index < 0:
        raise RangeError(f"no node ({level}, {index})")
    tile_level, r = divmod(level, TILE_HEIGHT)
    tile_index = (index << r) // TILE_WIDTH
    return tile_level, tile_index, r, index - tile_index * (TILE_WIDTH >> r)


def node_in_row(row: bytes, r: int, position: int) -> bytes | None:
    """Hash ``position`` of layer ``r`` of a stored row; None if the row does not hold it."""
    width = _WIDTH_OF.get(len(row))
    if width is None or position >= width >> r:
        return None
    at = HASH_SIZE * (_LAYER_AT[width][r] + position)
    return row[at:at + HASH_SIZE]


def misfit_rows(rows: Mapping[tuple[int, int], bytes], start: int, end: int, size: int
                ) -> list[tuple[int, int, int, int]]:
    """``(level, index, length, expected length)`` of the rows whose length is not what a
    tree of ``size`` gives their tile; each row is judged once, in the segment of leaves
    ``[start, end)`` that holds its tile's last leaf."""
    out = []
    for (level, index), row in sorted(rows.items()):
        last = min((index + 1) << (TILE_HEIGHT * (level + 1)), size)
        want = row_length(width_in(level, index, size))
        if start < last <= end and len(row) != want:
            out.append((level, index, len(row), want))
    return out


def row_updates(nodes: Iterable[tuple[int, int, bytes]]
                ) -> dict[tuple[int, int], list[tuple[int, int, bytes]]]:
    """Newly completed nodes (``merkle.append_leaves``'s) by the row that stores them, as
    ``(r, position, hash)`` in level then index order."""
    out: dict[tuple[int, int], list[tuple[int, int, bytes]]] = {}
    for level, index, h in sorted(nodes):
        tile_level, tile_index, r, position = in_row((level, index))
        out.setdefault((tile_level, tile_index), []).append((r, position, h))
    return out


def extend_row(row: bytes, added: Sequence[tuple[int, int, bytes]]) -> bytes:
    """The row with ``added`` nodes (``row_updates``'s), each layer continued where it ended;
    ``RangeError`` if they leave a gap or do not make a whole row."""
    width = row_width(row) if row else 0
    if width is None:
        raise RangeError(f"a stored row of {len(row)} bytes is no tile")
    layers: list[list[bytes]] = []
    at = 0
    for r in range(TILE_HEIGHT):
        count = width >> r
        layers.append([row[at + HASH_SIZE * i:at + HASH_SIZE * (i + 1)] for i in range(count)])
        at += HASH_SIZE * count
    for r, position, h in added:
        if position != len(layers[r]):
            raise RangeError(f"node {position} of layer {r} does not continue the row "
                             f"(it holds {len(layers[r])})")
        layers[r].append(h)
    new_width = len(layers[0])
    if any(len(layer) != new_width >> r for r, layer in enumerate(layers)):
        raise RangeError(f"the nodes added do not complete a row of width {new_width}")
    return b"".join(h for layer in layers for h in layer)


# --- entry bundles --------------------------------------------------------------------------


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries, each after its length as a big-endian uint16."""
    parts: list[bytes] = []
    for n, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise RangeError(f"entry {n} is {len(entry)} bytes; a bundle holds at most "
                             f"{MAX_ENTRY_BYTES}")
        parts += (len(entry).to_bytes(2, "big"), entry)
    return b"".join(parts)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; a truncated one is refused."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ProofError(f"entry bundle is truncated at byte {pos}")
        length = int.from_bytes(data[pos:pos + 2], "big")
        if pos + 2 + length > len(data):
            raise ProofError(f"entry {len(entries)} of the bundle is truncated")
        entries.append(data[pos + 2:pos + 2 + length])
        pos += 2 + length
    return entries
