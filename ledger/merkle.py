"""RFC 9162 (Certificate Transparency v2) Merkle tree maths over SHA-256.

The store keeps the hash of every *perfect* subtree: node ``(level, index)`` covers leaves
``[index * 2**level, (index + 1) * 2**level)``.  Any RFC 9162 subtree is the right fold of at
most ``log2(n)`` such nodes, so a proof is planned here as groups of node ids, fetched by the
store in one query, and assembled here: every proof costs O(log n) reads and hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

from ledger.errors import ConsistencyProofError, InclusionProofError, ProofError, RangeError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""``(level, index)`` of a perfect subtree; level 0 is a leaf."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- storage layout (golang.org/x/mod/sumdb/tlog) ----------------------------------------------


def stored_hash_index(level: int, index: int) -> int:
    """Where node ``(level, index)`` lands when hashes are stored in append order (tlog).

    Level L's n'th hash is written right after level L+1's 2n+1'th child, so the node's
    position is that of its last leaf, ``m``, at ``m + m//2 + m//4 + ...`` (= 2m - popcount m),
    plus one slot per completed parent level.
    """
    if level < 0 or index < 0:
        raise RangeError(f"no node ({level}, {index})")
    last = ((index + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def stored_hash_count(size: int) -> int:
    """How many hashes a tree of ``size`` leaves stores (tlog StoredHashCount)."""
    if size < 0:
        raise RangeError(f"negative tree size {size}")
    return 2 * size - size.bit_count()


# --- planning: which perfect nodes make up a subtree -------------------------------------------


def decompose(start: int, end: int) -> list[NodeId]:
    """Perfect nodes covering ``[start, end)``, largest first, so that ``fold`` gives its MTH.

    The range must be an RFC 9162 subtree: ``start`` a multiple of the power of two at or
    above its size (every range the RFC's recursions produce is).
    """
    size = end - start
    if start < 0 or size < 0:
        raise RangeError(f"bad leaf range [{start}, {end})")
    if size == 0:
        return []
    if start & ((1 << (size - 1).bit_length()) - 1):
        raise RangeError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
    nodes: list[NodeId] = []
    pos = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a subtree from its decomposition: H(h0, H(h1, ... H(h[-2], h[-1])))."""
    if not hashes:
        raise ProofError("cannot fold an empty list of hashes")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_nodes(size: int) -> list[NodeId]:
    return decompose(0, size)


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2), where the RFC splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof_nodes(index: int, size: int) -> list[list[NodeId]]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf side first, as groups to fold."""
    if size < 0 or index < 0 or index >= size:
        raise RangeError(f"leaf index {index} is not in a tree of size {size}")
    top_down: list[list[NodeId]] = []
    start, n, m = 0, size, index
    while n > 1:
        k = _split(n)
        if m < k:
            top_down.append(decompose(start + k, start + n))
            n = k
        else:
            top_down.append([((k.bit_length() - 1), start // k)])
            start, n, m = start + k, n - k, m - k
    top_down.reverse()
    return top_down


def consistency_proof_nodes(old_size: int, new_size: int) -> list[list[NodeId]]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1, in the RFC's order, as groups."""
    if old_size <= 0 or old_size > new_size:
        raise RangeError(f"no consistency proof from size {old_size} to size {new_size}")
    top_down: list[list[NodeId]] = []
    start, n, m, whole = 0, new_size, old_size, True
    while m != n:
        k = _split(n)
        if m <= k:
            top_down.append(decompose(start + k, start + n))
            n = k
        else:
            top_down.append([((k.bit_length() - 1), start // k)])
            start, n, m, whole = start + k, n - k, m - k, False
    if not whole:
        top_down.append(decompose(start, start + n))
    top_down.reverse()
    return top_down


def needed_nodes(groups: Iterable[Sequence[NodeId]]) -> set[NodeId]:
    return {node for group in groups for node in group}


def assemble(groups: Sequence[Sequence[NodeId]], lookup: Mapping[NodeId, bytes]) -> list[bytes]:
    """The proof itself, once the store has fetched ``needed_nodes(groups)`` into ``lookup``."""
    proof: list[bytes] = []
    for group in groups:
        try:
            proof.append(fold([lookup[node] for node in group]))
        except KeyError as e:
            raise ProofError(f"node {e.args[0]} is missing, cannot build the proof") from None
    return proof


# --- appending ----------------------------------------------------------------------------------


def append_leaves(
    frontier: Sequence[bytes], size: int, leaf_hashes: Sequence[bytes]
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add leaves to a tree known only by its frontier (the hashes of ``root_nodes(size)``).

    Returns the new frontier and each newly completed node as ``(level, index, hash)`` in
    tlog storage order, so the store can write them with dense, increasing keys.  Each leaf
    costs one hash per node it completes: amortised O(1).
    """
    if size < 0 or len(frontier) != size.bit_count():
        raise RangeError(f"a frontier of {len(frontier)} hashes cannot be a tree of size {size}")
    stack = list(frontier)
    emitted: list[tuple[int, int, bytes]] = []
    for i, leaf in enumerate(leaf_hashes, start=size):
        if len(leaf) != HASH_SIZE:
            raise ProofError(f"leaf hash {i} is {len(leaf)} bytes, not {HASH_SIZE}")
        emitted.append((0, i, leaf))
        h, level, index = leaf, 0, i
        while index & 1:
            h = node_hash(stack.pop(), h)
            level, index = level + 1, index >> 1
            emitted.append((level, index, h))
        stack.append(h)
    return stack, emitted


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    return fold(frontier) if frontier else EMPTY_ROOT


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------------


_VerifyError = type[InclusionProofError] | type[ConsistencyProofError]


def _check_size(what: str, h: bytes, err: _VerifyError) -> None:
    if len(h) != HASH_SIZE:
        raise err(f"{what} is {len(h)} bytes, not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for the leaf; raises if the proof is malformed."""
    if size < 0 or index < 0 or index >= size:
        raise InclusionProofError(f"leaf index {index} out of range for tree size {size}")
    _check_size("leaf hash", leaf_hash, InclusionProofError)
    expected_len = _inclusion_proof_length(index, size)
    if len(proof) != expected_len:
        raise InclusionProofError(
            f"wrong proof length: {len(proof)} hashes, index {index} of size {size} needs "
            f"{expected_len}"
        )
    fn, sn, r = index, size - 1, leaf_hash
    for i, p in enumerate(proof):
        _check_size(f"proof element {i}", p, InclusionProofError)
        if sn == 0:  # unreachable after the length check; kept as the RFC's own guard
            raise InclusionProofError("wrong proof length: proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # unreachable after the length check; kept as the RFC's own guard
        raise InclusionProofError("wrong proof length: proof is too short")
    return r


def _inclusion_proof_length(index: int, size: int) -> int:
    """Inner levels where the sibling is a full node, plus the right-border levels above."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ``InclusionProofError`` unless ``proof`` places the leaf at ``index`` in ``root``."""
    _check_size("root", root, InclusionProofError)
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not hmac.compare_digest(calculated, root):
        raise InclusionProofError(
            f"root mismatch: proof gives {calculated.hex()}, expected {root.hex()}",
            expected=root, calculated=calculated,
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise ``ConsistencyProofError`` unless the tree at ``old_root`` is a prefix of ``new_root``.

    The empty tree is a prefix of every tree, so a proof from size 0 proves nothing and is
    refused, as in the RFC (and the transparency-dev test vectors).
    """
    if old_size < 0 or new_size < 0 or old_size > new_size:
        raise ConsistencyProofError(f"sizes out of range: old {old_size}, new {new_size}")
    if old_size == 0:
        raise ConsistencyProofError("no consistency proof exists from the empty tree")
    if old_size == new_size:
        if proof:
            raise ConsistencyProofError(
                f"wrong proof length: sizes are equal, but the proof has {len(proof)} hashes"
            )
        if not hmac.compare_digest(old_root, new_root):
            raise ConsistencyProofError(
                "root mismatch: equal sizes with different roots",
                expected=new_root, calculated=old_root,
            )
        return
    _check_size("old root", old_root, ConsistencyProofError)
    _check_size("new root", new_root, ConsistencyProofError)
    old_calc, new_calc = _roots_from_consistency_proof(old_size, new_size, proof, old_root)
    if not hmac.compare_digest(old_calc, old_root):
        raise ConsistencyProofError(
            f"old root mismatch: proof gives {old_calc.hex()}, expected {old_root.hex()}",
            expected=old_root, calculated=old_calc,
        )
    if not hmac.compare_digest(new_calc, new_root):
        raise ConsistencyProofError(
            f"new root mismatch: proof gives {new_calc.hex()}, expected {new_root.hex()}",
            expected=new_root, calculated=new_calc,
        )


def _roots_from_consistency_proof(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-7 for 0 < old_size < new_size."""
    expected_len = _consistency_proof_length(old_size, new_size)
    if len(proof) != expected_len:
        raise ConsistencyProofError(
            f"wrong proof length: {len(proof)} hashes, sizes {old_size} -> {new_size} need "
            f"{expected_len}"
        )
    for i, p in enumerate(proof):
        _check_size(f"proof element {i}", p, ConsistencyProofError)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("wrong proof length: proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyProofError("wrong proof length: proof is too short")
    return fr, sr


def _consistency_proof_length(old_size: int, new_size: int) -> int:
    """Like ``_inclusion_proof_length`` for the old tree's last node at level ``shift``, plus
    that node's hash unless it is the whole old tree (then the old root stands in for it)."""
    shift = (old_size & -old_size).bit_length() - 1
    fn, sn = (old_size - 1) >> shift, (new_size - 1) >> shift
    inner = (fn ^ sn).bit_length()
    return inner + (fn >> inner).bit_count() + (1 if fn else 0)


# --- a whole tree in memory, for tests and offline tools ---------------------------------------


class MemoryTree:
    """Every stored hash in a list at its ``stored_hash_index``, as the store keeps them."""

    def __init__(self) -> None:
        self.leaf_hashes: list[bytes] = []
        self.hashes: list[bytes] = []
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        return len(self.leaf_hashes)

    def append(self, data: bytes) -> int:
        """Add one leaf; returns its index."""
        return self.append_hashes([leaf_hash(data)])

    def append_hashes(self, hashes: Sequence[bytes]) -> int:
        """Add leaves by their leaf hashes; returns the index of the first."""
        first = self.size
        self._frontier, nodes = append_leaves(self._frontier, first, hashes)
        self.hashes.extend(h for _, _, h in nodes)
        self.leaf_hashes.extend(hashes)
        return first

    def node(self, node: NodeId) -> bytes:
        return self.hashes[stored_hash_index(*node)]

    def _lookup(self, groups: Sequence[Sequence[NodeId]]) -> dict[NodeId, bytes]:
        return {node: self.node(node) for node in needed_nodes(groups)}

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise RangeError(f"tree size {size} is beyond the tree's {self.size} leaves")
        return size

    def root(self, size: int | None = None) -> bytes:
        if size is None:
            return root_from_frontier(self._frontier)
        nodes = root_nodes(self._size(size))
        return fold([self.node(n) for n in nodes]) if nodes else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        groups = inclusion_proof_nodes(index, self._size(size))
        return assemble(groups, self._lookup(groups))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        groups = consistency_proof_nodes(old_size, self._size(new_size))
        return assemble(groups, self._lookup(groups))
