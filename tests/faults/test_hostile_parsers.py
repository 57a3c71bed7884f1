"""Hostile input to the parsers (no node), with hypothesis: every input is answered with a value
or a specific ``LedgerError`` / ``ApiError``, never another exception; and what a parser accepts is
what it should (a record it accepts is canonical; a mutated proof, checkpoint or signature never
verifies).  The HTTP boundary is ``test_hostile_http.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import keys, merkle
from ledger.checkpoint import TreeHead, parse_checkpoint, sign_tree_head
from ledger.encoding import canonical, parse_canonical, parse_checked
from ledger.errors import LedgerError
from ledger.records import parse_record
from passport_api.errors import ApiError
from passport_api.signing import sign_request, verify_request
from tests.faults.hostile import (
    FUZZ,
    GOOD_RECORD,
    NESTED,
    SLOW_EXAMPLES,
    count,
    hostile_json_bytes,
    json_values,
    mutated,
    report_counts,  # noqa: F401  (autouse: prints the inputs tried)
)

# --- material: a real checkpoint and signed request to mutate ----------------------------------

LOG_KEY = keys.generate()
HEAD = TreeHead(origin="passport.local/log/fuzz", size=7, root=b"\x01" * 32,
                timestamp_ms=1_800_000_000_000)
GOOD_NOTE = sign_tree_head(HEAD, LOG_KEY)
NOW = 1_800_000_000
PATH = "/v1/reads"
BODY = b'{"fields":["today"],"member":"did:key:z6Mk"}'
GOOD_HEADERS = sign_request(LOG_KEY, "POST", PATH, "", BODY, created=NOW)


# --- the parsers -------------------------------------------------------------------------------


def parse_record_or_refuse(raw: bytes) -> None:
    count("parse_record")
    try:
        record = parse_record(raw)
    except LedgerError:
        return
    assert canonical(parse_checked(raw)) == raw  # only canonical bytes are ever accepted
    assert record.raw == raw


@FUZZ
@given(st.binary(max_size=2048) | mutated(GOOD_RECORD) | hostile_json_bytes()
       | st.sampled_from(NESTED))
def test_parse_record_refuses_with_a_ledger_error(raw: bytes) -> None:
    parse_record_or_refuse(raw)


@FUZZ
@given(st.binary(max_size=2048) | hostile_json_bytes() | mutated(GOOD_RECORD)
       | st.sampled_from(NESTED))
def test_parse_canonical_accepts_only_canonical_bytes(raw: bytes) -> None:
    count("parse_canonical")
    try:
        obj = parse_canonical(raw)
    except LedgerError:
        return
    assert canonical(obj) == raw


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@FUZZ
@given(json_values | st.sampled_from([deep(100_000), "\ud800", {"k": "\udfff"}, 2**64,
                                      float("nan"), {"\ud800": 1}]))
def test_canonical_encodes_or_refuses_with_an_encoding_error(value: Any) -> None:
    count("canonical")
    try:
        out = canonical(value)
    except LedgerError:
        return
    if isinstance(value, dict):  # and reading it back is a value or a refusal, nothing else
        try:
            back = parse_canonical(out, limit=len(out))
        except LedgerError:
            return  # e.g. the float 1e16 is written 10000000000000000, an integer past I-JSON
        assert canonical(back) == out


@FUZZ
@given(size=st.integers(1, 40), data=st.data())
def test_a_mutated_proof_never_verifies(size: int, data: st.DataObject) -> None:
    count("merkle proofs")
    tree = merkle.MemoryTree()
    for i in range(size):
        tree.append(b"leaf %d" % i)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    leaf, root = merkle.leaf_hash(b"leaf %d" % index), tree.root(size)
    inclusion, consistency = tree.inclusion_proof(index, size), tree.consistency_proof(old, size)

    def edit(proof: list[bytes]) -> list[bytes]:
        proof = list(proof)
        how = data.draw(st.sampled_from(["flip", "drop", "add", "swap", "short", "garbage"]))
        if how == "flip" and proof:
            i = data.draw(st.integers(0, len(proof) - 1))
            proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
        elif how == "drop" and proof:
            proof.pop(data.draw(st.integers(0, len(proof) - 1)))
        elif how == "add":
            proof.append(data.draw(st.binary(min_size=32, max_size=32)))
        elif how == "swap" and len(proof) > 1:
            proof[0], proof[-1] = proof[-1], proof[0]
        elif how == "short" and proof:
            proof[0] = proof[0][:31]
        else:
            proof = data.draw(st.lists(st.binary(max_size=40), max_size=8))
        return proof

    bad_inclusion, bad_consistency = edit(inclusion), edit(consistency)
    bad_index = data.draw(st.integers(-3, size + 3))
    if (bad_inclusion, bad_index) != (inclusion, index):
        with pytest.raises(LedgerError):
            merkle.verify_inclusion(leaf, bad_index, size, bad_inclusion, root)
    if bad_consistency != consistency or old == size:
        with pytest.raises(LedgerError):
            merkle.verify_consistency(old, size, bad_consistency, tree.root(old),
                                      root if bad_consistency != consistency else b"\0" * 32)
    with pytest.raises(LedgerError):  # sizes and indexes an attacker picks
        merkle.verify_consistency(data.draw(st.integers(-2**70, 2**70)),
                                  data.draw(st.integers(-2**70, 2**70)),
                                  bad_consistency, b"\0" * 31, root)


@FUZZ
@given(mutated(GOOD_NOTE) | st.binary(max_size=600))
def test_a_mutated_checkpoint_never_verifies(note: bytes) -> None:
    count("parse_checkpoint")
    try:
        head = parse_checkpoint(note, LOG_KEY.verify_key)
    except LedgerError:
        return
    assert head == HEAD  # only edits the format ignores (an extra cosignature) can pass


def mutated_headers() -> st.SearchStrategy[dict[str, str]]:
    names = ["content-digest", "signature-input", "signature"]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, str]:
        headers = dict(GOOD_HEADERS)
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            edited = draw(mutated(headers[name].encode()))
            headers[name] = edited.decode("latin-1")
        if draw(st.booleans()):
            headers.pop(draw(st.sampled_from(names)))
        return headers
    return build()


@FUZZ
@given(mutated_headers(), st.sampled_from([BODY, b"", BODY + b" "]),
       st.sampled_from([PATH, "/v1/reads/", "/v1/READS"]))
def test_a_mutated_signed_request_is_refused_with_an_api_error(
        headers: dict[str, str], body: bytes, path: str) -> None:
    count("verify_request")
    try:
        verified = verify_request("POST", path, "", headers, body, now=NOW, max_skew_s=300)
    except ApiError:
        return
    # Structured fields allow a few equivalent spellings; never other bytes or another target.
    assert body == BODY and path == PATH and verified.did == keys.did_of(LOG_KEY)


def test_the_signed_material_itself_verifies() -> None:
    """The mutations above start from something that passes (else they prove nothing)."""
    parse_record(GOOD_RECORD)
    assert parse_checkpoint(GOOD_NOTE, LOG_KEY.verify_key) == HEAD
    verify_request("POST", PATH, "", GOOD_HEADERS, BODY, now=NOW, max_skew_s=300)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES * 5, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=4096) | mutated(GOOD_RECORD) | hostile_json_bytes())
def test_many_record_inputs(raw: bytes) -> None:
    parse_record_or_refuse(raw)
