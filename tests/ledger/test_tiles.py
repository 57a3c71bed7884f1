"""ledger.tiles against the C2SP tlog-tiles text: paths, widths, bundles, proofs from tiles."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle, tiles
from ledger.errors import ProofError, RangeError, TilePathError
from ledger.tiles import Tile

# A tree past 65,536 leaves, so it has level 2 tiles; leaf hashes only (cheap to build).
BIG = 66_000
TREE = merkle.MemoryTree()
TREE.append_hashes([hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(BIG)])
FAST = settings(max_examples=200, deadline=None)


def fetcher(size: int, asked: list[Tile] | None = None):  # type: ignore[no-untyped-def]
    """Tiles from the in-memory tree, refusing any the tree of ``size`` does not have."""
    def fetch(tile: Tile) -> bytes:
        tiles.check_in_tree(tile, size)
        assert tile.width == tiles.width_in(tile.level, tile.index, size)
        if asked is not None:
            asked.append(tile)
        return b"".join(TREE.node(n) for n in tile.nodes())
    return fetch


# --- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "text"), [
    (0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067"),
    (1_000_000, "x001/x000/000"),
])
def test_index_encoding_from_the_spec(index: int, text: str) -> None:
    assert tiles.encode_index(index) == text
    assert tiles.parse_index(text) == index


@given(st.integers(min_value=0, max_value=2**64))
def test_index_round_trips(n: int) -> None:
    assert tiles.parse_index(tiles.encode_index(n)) == n


@given(st.one_of(st.none(), st.integers(0, tiles.MAX_LEVEL)), st.integers(0, 2**40),
       st.integers(1, 256))
def test_paths_round_trip(level: int | None, index: int, width: int) -> None:
    tile = Tile(level, index, width)
    assert tiles.parse_path(tile.path()) == tile
    assert tile.path().endswith("" if width == 256 else f".p/{width}")


def test_paths_look_like_the_spec() -> None:
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    assert Tile(2, 3, 17).path() == "tile/2/003.p/17"
    assert Tile(None, 1000, 5).path() == "tile/entries/x001/000.p/5"


@pytest.mark.parametrize("path", [
    "tile/01/000", "tile/64/000", "tile/-1/000", "tile/a/000", "tile/0/1", "tile/0/0000",
    "tile/0/x001", "tile/0/001/002", "tile/0/x000/001", "tile/0/000.p/0", "tile/0/000.p/256",
    "tile/0/000.p/01", "tile/0/000.p/", "tile/0/000.p/5/", "tile/0", "tile/0/", "tiles/0/000",
    "tile/entries/", "tile/entries/x1/000", "tile/0/x001/x001/x001/x001/x001/x001/x001/000",
    "tile/0/000.p/5.p/6",
])
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(TilePathError):
        tiles.parse_path(path)


# --- which tiles a tree has --------------------------------------------------------------------


def _summary(size: int) -> list[tuple[int | None, int]]:
    """(level, width) of each tile, full tiles counted by level."""
    return [(t.level, t.width) for t in tiles.tiles_of(size)]


def test_the_spec_examples() -> None:
    found = _summary(70_000)
    assert found.count((0, 256)) == 273 and (0, 112) in found
    assert found.count((1, 256)) == 1 and (1, 17) in found
    assert (2, 1) in found and len(found) == 273 + 1 + 1 + 1 + 1
    assert _summary(256) == [(0, 256), (1, 1)]
    assert _summary(0) == []
    assert _summary(1) == [(0, 1)]
    assert _summary(257) == [(0, 256), (0, 1), (1, 1)]


@given(st.integers(0, 2**40), st.integers(0, 2), st.integers(0, 2**20))
def test_widths_add_up_to_the_tree(size: int, level: int, index: int) -> None:
    width = tiles.width_in(level, index, size)
    count = size >> (8 * level)
    assert width == max(0, min(256, count - 256 * index))
    if width:  # the tile's nodes are perfect nodes of the tree, and the next one is not
        tile = tiles.tile_at(level, index, size)
        last_level, last_index = tile.nodes()[-1]
        assert (last_index + 1) << last_level <= size
        if width < 256:
            assert (last_index + 2) << last_level > size


def test_partial_tiles_stay_servable_once_full_and_beyond_is_out_of_range() -> None:
    tiles.check_in_tree(Tile(0, 0, 5), 5)
    tiles.check_in_tree(Tile(0, 0, 5), 300)  # an old checkpoint's partial tile
    tiles.check_in_tree(Tile(1, 0, 1), 256)
    with pytest.raises(RangeError, match="only 5 of its 256"):
        tiles.check_in_tree(Tile(0, 0), 5)
    with pytest.raises(RangeError, match="none of its"):
        tiles.check_in_tree(Tile(None, 1, 1), 256)
    with pytest.raises(RangeError):
        tiles.check_in_tree(Tile(0, 0, 6), 5)
    with pytest.raises(RangeError):
        tiles.check_in_tree(Tile(1, 0, 1), 255)


# --- proofs from tiles equal the node's proofs from stored nodes -------------------------------


@FAST
@given(st.data())
def test_inclusion_proofs_from_tiles(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG))
    index = data.draw(st.integers(0, size - 1))
    groups = merkle.inclusion_proof_nodes(index, size)
    asked: list[Tile] = []
    lookup = tiles.nodes_from_tiles(merkle.needed_nodes(groups), size, fetcher(size, asked))
    proof = merkle.assemble(groups, lookup)
    assert proof == TREE.inclusion_proof(index, size)
    merkle.verify_inclusion(TREE.leaf_hashes[index], index, size, proof, TREE.root(size))
    assert len(asked) == len(set(asked)) <= 3 * 2  # each tile once; two per level at most


@FAST
@given(st.data())
def test_consistency_proofs_and_roots_from_tiles(data: st.DataObject) -> None:
    new = data.draw(st.integers(1, BIG))
    old = data.draw(st.integers(1, new))
    groups = merkle.consistency_proof_nodes(old, new)
    lookup = tiles.nodes_from_tiles(merkle.needed_nodes(groups), new, fetcher(new))
    assert merkle.assemble(groups, lookup) == TREE.consistency_proof(old, new)
    roots = merkle.root_nodes(new)
    found = tiles.nodes_from_tiles(roots, new, fetcher(new))
    assert merkle.fold([found[n] for n in roots]) == TREE.root(new)


def test_nodes_outside_the_tree_and_short_tiles_are_refused() -> None:
    with pytest.raises(RangeError):
        tiles.nodes_from_tiles([(1, 2)], 5, fetcher(5))
    with pytest.raises(ProofError, match="width 5 is 160 bytes"):
        tiles.nodes_from_tiles([(0, 0)], 5, lambda tile: b"\0" * 32)
    with pytest.raises(RangeError):
        tiles.subtree_hash([b"\0" * 32] * 3)


@given(st.integers(0, 70), st.integers(0, 10**6))
def test_locate_names_the_hashes_under_a_node(level: int, index: int) -> None:
    tile_level, tile_index, first, count = tiles.locate((level, index))
    assert tile_level == level // 8 and count == 2 ** (level % 8)
    start = (tile_index * 256 + first) * 256**tile_level
    assert start == index << level  # the node's first leaf
    assert first + count <= 256


# --- entry bundles -----------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_bundles_round_trip(entries: list[bytes]) -> None:
    data = tiles.encode_bundle(entries)
    assert tiles.decode_bundle(data) == entries
    assert len(data) == sum(2 + len(e) for e in entries)


def test_bundle_framing() -> None:
    assert tiles.encode_bundle([b"ab", b""]) == b"\x00\x02ab\x00\x00"
    assert tiles.decode_bundle(b"\x01\x00" + b"x" * 256) == [b"x" * 256]
    tiles.encode_bundle([b"x" * 0xFFFF])
    with pytest.raises(RangeError, match="65536 bytes"):
        tiles.encode_bundle([b"x" * 0x10000])
    with pytest.raises(ProofError, match="truncated"):
        tiles.decode_bundle(b"\x00\x05abc")
    with pytest.raises(ProofError, match="truncated"):
        tiles.decode_bundle(b"\x00\x01a\x00")


# --- storing tiles: what an append adds, what an audit segment reads -------------------------


def _row(key: tuple[int, int], size: int) -> bytes:
    """A stored row, from its definition: the tile's hashes, then each level inside it."""
    level, index = key
    width = tiles.width_in(level, index, size)
    return b"".join(TREE.node((8 * level + r, (256 >> r) * index + p))
                    for r in range(8) for p in range(width >> r))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, BIG - 1), st.integers(1, 3000))
def test_appends_extend_stored_rows_to_the_new_tree(size: int, count: int) -> None:
    count = min(count, BIG - size)
    frontier = [TREE.node(n) for n in merkle.root_nodes(size)]
    _, nodes = merkle.append_leaves(frontier, size, TREE.leaf_hashes[size:size + count])
    touched = tiles.keys_between(size, size + count)
    updates = tiles.row_updates(nodes)
    assert set(updates) <= set(touched)
    for key in touched:  # each row the segment touches, extended to the new tree's row
        after = tiles.extend_row(_row(key, size), updates.get(key, []))
        assert after == _row(key, size + count)
        width = tiles.width_in(*key, size + count)
        assert (tiles.row_width(after) or 0) == width and len(after) == tiles.row_length(width)
        level, index = key  # and it covers some of the segment's leaves
        assert index << (8 * (level + 1)) < size + count
        assert (index + 1) << (8 * (level + 1)) > size


@FAST
@given(st.data())
def test_every_node_is_a_slice_of_one_row(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG))
    level = data.draw(st.integers(0, size.bit_length() - 1))
    index = data.draw(st.integers(0, (size >> level) - 1))
    tile_level, tile_index, r, position = tiles.in_row((level, index))
    assert 8 * tile_level + r == level
    row = _row((tile_level, tile_index), size)
    assert tiles.node_in_row(row, r, position) == TREE.node((level, index))
    assert tiles.node_in_row(row, r, (tiles.row_width(row) or 0) >> r) is None


def test_rows_refuse_gaps_and_half_levels() -> None:
    row = _row((0, 0), 4)  # leaves 0-3, nodes (1, 0), (1, 1), (2, 0)
    assert len(row) == 7 * 32 and tiles.row_width(row) == 4
    assert tiles.row_width(row + b"\0") is None
    with pytest.raises(RangeError, match="does not continue"):
        tiles.extend_row(row, [(0, 5, b"\0" * 32)])
    with pytest.raises(RangeError, match="do not complete a row of width 6"):
        tiles.extend_row(row, [(0, 4, b"\0" * 32), (0, 5, b"\0" * 32)])  # (1, 2) missing
    with pytest.raises(RangeError, match="is no tile"):
        tiles.extend_row(row + b"\0", [])
    assert tiles.keys_between(0, 0) == [] and tiles.keys_between(255, 257) == [(0, 0), (0, 1),
                                                                               (1, 0)]


def test_misfit_rows_are_judged_once_in_the_segment_of_their_last_leaf() -> None:
    good, long_ = _row((0, 0), 300), _row((1, 0), 300) + b"\0" * 32
    rows = {(0, 0): good, (0, 1): _row((0, 1), 300), (1, 0): long_}
    assert tiles.misfit_rows(rows, 0, 300, 300) == [(1, 0, 64, 32)]
    assert tiles.misfit_rows(rows, 0, 256, 300) == []  # its last leaf (299) is later
    assert tiles.misfit_rows(rows, 256, 300, 300) == [(1, 0, 64, 32)]
    # 44 leaves, then 22, 11, 5, 2 and 1 nodes of the levels inside the tile
    assert tiles.misfit_rows({(0, 1): b""}, 256, 300, 300) == [(0, 1, 0, 85 * 32)]
