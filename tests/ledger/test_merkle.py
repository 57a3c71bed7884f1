"""ledger.merkle against the RFC text, the transparency-dev vectors and tlog's storage layout."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import ConsistencyProofError, InclusionProofError, ProofError, RangeError

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc6962"
ROOTS = json.loads((VECTORS / "roots.json").read_text())
VECTOR_LEAVES = [bytes.fromhex(x) for x in ROOTS["leaf_inputs_hex"]]
VECTOR_ROOTS = [bytes.fromhex(x) for x in ROOTS["root_hash_by_tree_size_hex"]]

# --- a naive reference, straight from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 -----------------

BIG = 4096
DATA = [i.to_bytes(4, "big") + b"passport" for i in range(BIG)]


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(start: int, end: int) -> bytes:
    """MTH(D[start:end]) over DATA, memoised so the reference stays usable for big trees."""
    n = end - start
    if n == 0:
        return merkle.EMPTY_ROOT
    if n == 1:
        return merkle.leaf_hash(DATA[start])
    k = _k(n)
    return merkle.node_hash(mth(start, start + k), mth(start + k, end))


def ref_path(m: int, start: int, end: int) -> list[tuple[str, bytes]]:
    """PATH(m, D[start:end]), each element tagged with the side it is hashed on."""
    n = end - start
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, start, start + k), ("R", mth(start + k, end))]
    return [*ref_path(m - k, start + k, end), ("L", mth(start, start + k))]


def ref_subproof(m: int, start: int, end: int, b: bool) -> list[tuple[str, bytes]]:
    """SUBPROOF(m, D[start:end], b), each element tagged with its role."""
    n = end - start
    if m == n:
        return [] if b else [("S", mth(start, end))]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, start, start + k, b), ("R", mth(start + k, end))]
    return [*ref_subproof(m - k, start + k, end, False), ("L", mth(start, start + k))]


def inclusion_shape(m: int, n: int) -> list[str]:
    """The sides of PATH(m, D[n]) alone: what the verifier's hashing depends on."""
    if not 0 <= m < n:
        return ["invalid"]
    if n == 1:
        return []
    k = _k(n)
    return [*inclusion_shape(m, k), "R"] if m < k else [*inclusion_shape(m - k, n - k), "L"]


def consistency_shape(m: int, n: int, b: bool = True) -> list[str]:
    """The roles of PROOF(m, D[n]) alone."""
    if not 0 < m <= n:
        return ["invalid"]
    if m == n:
        return [] if b else ["S"]
    k = _k(n)
    if m <= k:
        return [*consistency_shape(m, k, b), "R"]
    return [*consistency_shape(m - k, n - k, False), "L"]


@cache
def big_tree() -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for d in DATA:
        tree.append(d)
    return tree


def inclusion_ok(leaf: bytes, m: int, n: int, proof: list[bytes], root: bytes) -> bool:
    try:
        merkle.verify_inclusion(leaf, m, n, proof, root)
    except InclusionProofError:
        return False
    return True


def consistency_ok(m: int, n: int, proof: list[bytes], r1: bytes, r2: bytes) -> bool:
    try:
        merkle.verify_consistency(m, n, proof, r1, r2)
    except ConsistencyProofError:
        return False
    return True


# --- vectors ------------------------------------------------------------------------------------


def test_roots_of_the_vector_trees() -> None:
    tree = merkle.MemoryTree()
    assert tree.root() == VECTOR_ROOTS[0] == merkle.EMPTY_ROOT
    for n, leaf in enumerate(VECTOR_LEAVES, start=1):
        tree.append(leaf)
        assert tree.root() == VECTOR_ROOTS[n]
    for n in range(9):
        assert tree.root(n) == VECTOR_ROOTS[n]


def _cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / "proofs" / kind).rglob("*.json"))
    return [pytest.param(f, id=str(f.relative_to(VECTORS))) for f in files]


def _b64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _vector_tree() -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for leaf in VECTOR_LEAVES:
        tree.append(leaf)
    return tree


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(*args)
        return
    merkle.verify_inclusion(*args)
    size = case["treeSize"]
    if size <= 8 and args[4] == VECTOR_ROOTS[size]:
        assert _vector_tree().inclusion_proof(case["leafIdx"], size) == proof


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    args = (case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(*args)
        return
    merkle.verify_consistency(*args)
    if case["size2"] <= 8 and args[4] == VECTOR_ROOTS[case["size2"]]:
        assert _vector_tree().consistency_proof(case["size1"], case["size2"]) == proof


# --- storage layout -----------------------------------------------------------------------------


def go_stored_hash_index(level: int, n: int) -> int:
    """tlog.StoredHashIndex, transcribed loop for loop."""
    for _ in range(level, 0, -1):
        n = 2 * n + 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def go_stored_hash_count(n: int) -> int:
    if n == 0:
        return 0
    num = go_stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        num += 1
        i >>= 1
    return num


def test_stored_hash_index_matches_tlog() -> None:
    for level in range(12):
        for index in range(300):
            assert merkle.stored_hash_index(level, index) == go_stored_hash_index(level, index)
    for n in range(2000):
        assert merkle.stored_hash_count(n) == go_stored_hash_count(n)
    assert merkle.stored_hash_index(40, 3) == go_stored_hash_index(40, 3)


def test_layout_errors() -> None:
    with pytest.raises(RangeError):
        merkle.stored_hash_index(-1, 0)
    with pytest.raises(RangeError):
        merkle.stored_hash_count(-1)
    with pytest.raises(RangeError):
        merkle.decompose(1, 3)  # [1, 3) is not a subtree
    with pytest.raises(RangeError):
        merkle.decompose(4, 3)


def test_decompose() -> None:
    assert merkle.root_nodes(0) == []
    assert merkle.root_nodes(1) == [(0, 0)]
    assert merkle.root_nodes(7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.decompose(8, 13) == [(2, 2), (0, 12)]
    for n in range(1, 300):
        assert merkle.fold([big_tree().node(x) for x in merkle.root_nodes(n)]) == mth(0, n)


def test_proof_node_range_errors() -> None:
    for index, size in [(0, 0), (3, 3), (-1, 3), (0, -1)]:
        with pytest.raises(RangeError):
            merkle.inclusion_proof_nodes(index, size)
    for old, new in [(0, 0), (0, 5), (6, 5), (-1, 5)]:
        with pytest.raises(RangeError):
            merkle.consistency_proof_nodes(old, new)
    assert merkle.consistency_proof_nodes(5, 5) == []
    assert merkle.inclusion_proof_nodes(0, 1) == []
    with pytest.raises(RangeError):
        big_tree().inclusion_proof(0, BIG + 1)
    with pytest.raises(ProofError, match="missing"):
        merkle.assemble([[(0, 0)]], {})


# --- proofs against the reference ---------------------------------------------------------------


def test_every_proof_of_small_trees() -> None:
    tree = big_tree()
    for n in range(1, 65):
        root = tree.root(n)
        assert root == mth(0, n)
        for m in range(n):
            proof = tree.inclusion_proof(m, n)
            assert proof == [h for _, h in ref_path(m, 0, n)]
            merkle.verify_inclusion(tree.leaf_hashes[m], m, n, proof, root)
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert proof == [h for _, h in ref_subproof(m, 0, n, True)]
            merkle.verify_consistency(m, n, proof, tree.root(m), root)


sizes = st.one_of(st.integers(1, 300), st.integers(301, BIG))
FAST = settings(max_examples=300, deadline=None)


def _mutations(proof: list[bytes], data: st.DataObject) -> list[list[bytes]]:
    draw = data.draw
    out: list[list[bytes]] = []
    if proof:
        i = draw(st.integers(0, len(proof) - 1))
        bit = draw(st.integers(0, 8 * merkle.HASH_SIZE - 1))
        flipped = bytearray(proof[i])
        flipped[bit // 8] ^= 1 << (bit % 8)
        out.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
        out.append(proof[:i] + proof[i + 1 :])
    extra = draw(st.binary(min_size=32, max_size=32))
    j = draw(st.integers(0, len(proof)))
    out.append([*proof[:j], extra, *proof[j:]])
    out.append([*proof, proof[-1] if proof else extra])
    return out


@FAST
@given(st.data(), sizes)
def test_inclusion_proofs(data: st.DataObject, n: int) -> None:
    tree = big_tree()
    m = data.draw(st.integers(0, n - 1))
    proof, root, leaf = tree.inclusion_proof(m, n), mth(0, n), tree.leaf_hashes[m]
    assert proof == [h for _, h in ref_path(m, 0, n)]
    assert len(merkle.inclusion_proof_nodes(m, n)) == len(proof)
    merkle.verify_inclusion(leaf, m, n, proof, root)
    assert merkle.root_from_inclusion_proof(leaf, m, n, proof) == root
    for bad in _mutations(proof, data):
        assert not inclusion_ok(leaf, m, n, bad, root)
    other_m = data.draw(st.integers(-2, n + 2).filter(lambda x: x != m))
    assert not inclusion_ok(leaf, other_m, n, proof, root)
    # A proof names no tree size: another size verifies exactly when the RFC's recursion
    # gives the same shape of hashing (e.g. PATH(0, D[3]) and PATH(0, D[4])).
    other_n = data.draw(st.integers(0, 2 * n + 2).filter(lambda x: x != n))
    same_shape = inclusion_shape(m, other_n) == inclusion_shape(m, n)
    assert inclusion_ok(leaf, m, other_n, proof, root) == same_shape


@FAST
@given(st.data(), sizes)
def test_consistency_proofs(data: st.DataObject, n: int) -> None:
    tree = big_tree()
    m = data.draw(st.integers(1, n))
    proof, old, new = tree.consistency_proof(m, n), mth(0, m), mth(0, n)
    assert proof == [h for _, h in ref_subproof(m, 0, n, True)]
    merkle.verify_consistency(m, n, proof, old, new)
    for bad in _mutations(proof, data):
        assert not consistency_ok(m, n, bad, old, new)
    assert not consistency_ok(m, n, proof, new, old) or old == new
    other_m = data.draw(st.integers(0, n + 2).filter(lambda x: x != m))
    same = consistency_shape(other_m, n) == consistency_shape(m, n)
    assert consistency_ok(other_m, n, proof, old, new) == same
    other_n = data.draw(st.integers(0, 2 * n + 2).filter(lambda x: x != n))
    same = consistency_shape(m, other_n) == consistency_shape(m, n)
    assert consistency_ok(m, other_n, proof, old, new) == same


def test_verifier_messages_and_roots() -> None:
    tree = big_tree()
    leaf, proof, root = tree.leaf_hashes[5], tree.inclusion_proof(5, 10), tree.root(10)
    with pytest.raises(InclusionProofError, match="out of range"):
        merkle.verify_inclusion(leaf, 10, 10, proof, root)
    with pytest.raises(InclusionProofError, match="wrong proof length"):
        merkle.verify_inclusion(leaf, 5, 10, proof[:-1], root)
    with pytest.raises(InclusionProofError, match="bytes"):
        merkle.verify_inclusion(leaf[:31], 5, 10, proof, root)
    with pytest.raises(InclusionProofError, match="bytes"):
        merkle.verify_inclusion(leaf, 5, 10, [proof[0] + b"\x00", *proof[1:]], root)
    with pytest.raises(InclusionProofError, match="root mismatch") as exc:
        merkle.verify_inclusion(tree.leaf_hashes[4], 5, 10, proof, root)
    assert exc.value.expected == root
    assert exc.value.calculated == merkle.root_from_inclusion_proof(
        tree.leaf_hashes[4], 5, 10, proof
    )
    cproof = tree.consistency_proof(3, 10)
    with pytest.raises(ConsistencyProofError, match="wrong proof length"):
        merkle.verify_consistency(3, 10, cproof[1:], tree.root(3), root)
    with pytest.raises(ConsistencyProofError, match="root mismatch") as cexc:
        merkle.verify_consistency(3, 10, cproof, tree.root(3), tree.root(9))
    assert cexc.value.expected == tree.root(9)
    assert cexc.value.calculated == root


# --- appending ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=12))
def test_append_in_batches(batches: list[int]) -> None:
    total = sum(batches)
    leaves = [merkle.leaf_hash(d) for d in DATA[:total]]
    frontier: list[bytes] = []
    emitted: list[tuple[int, int, bytes]] = []
    size = 0
    for count in batches:
        frontier, nodes = merkle.append_leaves(frontier, size, leaves[size : size + count])
        emitted.extend(nodes)
        size += count
        assert merkle.root_from_frontier(frontier) == mth(0, size)
        assert len(frontier) == size.bit_count()
    keys = [merkle.stored_hash_index(level, index) for level, index, _ in emitted]
    assert keys == list(range(merkle.stored_hash_count(total)))
    tree = big_tree()
    assert [h for _, _, h in emitted] == tree.hashes[: len(emitted)]
    for level, index, h in emitted:
        assert h == mth(index << level, (index + 1) << level)


def test_append_refuses_inconsistent_input() -> None:
    with pytest.raises(RangeError):
        merkle.append_leaves([], 1, [])
    with pytest.raises(ProofError):
        merkle.append_leaves([], 0, [b"short"])
