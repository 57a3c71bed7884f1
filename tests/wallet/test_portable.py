"""wallet.portable.verify_export: an export checks offline, and any change to it is refused."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from ledger import keys, seal
from ledger.chain import Author
from ledger.encoding import b64url_decode, b64url_encode
from ledger.store.ledger import Ledger
from wallet.errors import ExportInvalidError
from wallet.portable import FORMAT, verify_export

Doc = dict[str, Any]


def build(tmp: Path, log_key: nacl.signing.SigningKey) -> Doc:
    """A member's chain of three records (two with values) on a ledger, exported by hand."""
    ledger = Ledger.open(str(tmp / "l.sqlite"), log_key=log_key, verify_workers=0)
    try:
        member = Author(keys.generate())
        nxt = keys.generate()
        other = Author(keys.generate())
        records, blobs = [member.next("key.rotate", {
            "next": member.did, "next_commitment": keys.key_commitment(bytes(nxt.verify_key))})], {}
        for value in ("Ana", "Lisbon"):
            sealed = seal.seal(value, author=member.did, field="name", seq=member.seq + 1,
                               recipients=[member.did])
            records.append(member.next("passport.set", {
                "field": "name", "commitment": sealed.commitment, "blob": sealed.blob_name,
                "recipients": sealed.recipients}))
            blobs[sealed.blob_name] = sealed.blob
        noise = other.next("attest", {"subject": member.did, "claim": {}})
        ledger.append_batch([records[0].raw, noise.raw])
        result = ledger.append_batch([r.raw for r in records[1:]], blobs)
        size = result.tree_head.head.size
        return {"format": FORMAT, "member": member.did, "exported_at": "2026-05-04T10:00:00Z",
                "node": "http://a", "log": {"public_key": bytes(log_key.verify_key).hex(),
                                            "checkpoint": result.tree_head.note.decode()},
                "records": [{"record": r.raw.decode(), "index": ledger.record(r.id).index,
                             "inclusion": [b64url_encode(h) for h in ledger.inclusion_proof(
                                 ledger.record(r.id).index, size)]} for r in records],
                "blobs": {n: b64url_encode(b) for n, b in blobs.items()}, "erased": []}
    finally:
        ledger.close()


@pytest.fixture
def doc(tmp_path: Path) -> Iterator[Doc]:
    yield build(tmp_path, keys.generate())


def test_a_faithful_export_verifies(doc: Doc) -> None:
    verified = verify_export(doc)
    assert verified.member == doc["member"]
    assert [r.seq for r in verified.records] == [1, 2, 3]
    assert verified.head.size == 4 and set(verified.blobs) == set(doc["blobs"])


def _flip_record_byte(d: Doc) -> None:
    text = d["records"][2]["record"]
    at = text.index('"field":"') + 9
    d["records"][2]["record"] = text[:at] + "m" + text[at + 1:]


def _swap_blob(d: Doc) -> None:
    a, b = list(d["blobs"])
    d["blobs"][a], d["blobs"][b] = d["blobs"][b], d["blobs"][a]


def _other_log_key(d: Doc) -> None:
    d["log"]["public_key"] = bytes(keys.generate().verify_key).hex()


def _move_index(d: Doc) -> None:
    d["records"][0]["index"] = 1


def _truncate_proof(d: Doc) -> None:
    d["records"][1]["inclusion"] = d["records"][1]["inclusion"][:-1]


def _drop_first_record(d: Doc) -> None:
    del d["records"][0]


def _reorder(d: Doc) -> None:
    d["records"][1], d["records"][2] = d["records"][2], d["records"][1]


def _drop_blob(d: Doc) -> None:
    d["blobs"].popitem()


def _stray_blob(d: Doc) -> None:
    data = b"not named"
    d["blobs"]["sha256:" + hashlib.sha256(data).hexdigest()] = b64url_encode(data)


def _wrong_format(d: Doc) -> None:
    d["format"] = "passport-export/2"


def _other_member(d: Doc) -> None:
    d["member"] = keys.did_of(keys.generate())


def _flip_blob_bit(d: Doc) -> None:
    name = next(iter(d["blobs"]))
    data = bytearray(b64url_decode(d["blobs"][name]))
    data[0] ^= 1
    d["blobs"][name] = b64url_encode(bytes(data))


def _garbage(d: Doc) -> None:
    d["records"][0] = "garbage"


@pytest.mark.parametrize(("tamper", "says"), [
    (_flip_record_byte, "record 3 of the export"),
    (_swap_blob, "altered or swapped"),
    (_flip_blob_bit, "altered or swapped"),
    (_other_log_key, "does not verify"),
    (_move_index, "not in the signed tree head"),
    (_truncate_proof, "not in the signed tree head"),
    (_drop_first_record, "does not validate"),
    (_reorder, "does not validate"),
    (_drop_blob, "neither in the export nor listed as erased"),
    (_stray_blob, "named by no record"),
    (_wrong_format, "not a passport-export/1 file"),
    (_other_member, "is by did:key"),
    (_garbage, "malformed"),
])
def test_any_change_is_refused_with_its_reason(doc: Doc, tamper: Callable[[Doc], None],
                                               says: str) -> None:
    bad = copy.deepcopy(doc)
    tamper(bad)
    with pytest.raises(ExportInvalidError, match=says):
        verify_export(bad)
