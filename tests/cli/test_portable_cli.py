"""Export from one node, import into another, carry on there: through the real ``passport``
binary against two real nodes, one on SQLite and one on PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ledger.encoding import b64url_decode, b64url_encode
from tests.api.conftest import Node
from tests.cli.support import Party, as_json, one_error_line, together
from tests.conftest import empty_pg
from wallet.portable import FORMAT, verify_export

Run = Any


@dataclass
class Moved:
    a: Node
    b: Node
    member: Party
    exported: Any
    document: dict[str, Any]
    chain_before_import: list[Any]
    tampered: dict[str, Run]
    imported: Any
    set_on_b: Any
    again: Any

    def chain(self, node: Node) -> list[dict[str, Any]]:
        return list(httpx.get(f"{node.url}/v1/members/{self.member.did}/chain",
                              params={"limit": 1000}, timeout=30).json()["records"])


def tamper_record(document: dict[str, Any]) -> dict[str, Any]:
    """One byte of the second record changed (a letter of its timestamp's year)."""
    bad = copy.deepcopy(document)
    text = bad["records"][1]["record"]
    at = text.index('"ts":"') + 6
    bad["records"][1]["record"] = text[:at] + ("1" if text[at] != "1" else "3") + text[at + 1:]
    return bad


def swap_blob(document: dict[str, Any]) -> dict[str, Any]:
    """The bytes of a value replaced by others, under the same name."""
    bad = copy.deepcopy(document)
    name = next(iter(bad["blobs"]))
    data = bytearray(b64url_decode(bad["blobs"][name]))
    data[-1] ^= 1
    bad["blobs"][name] = b64url_encode(bytes(data))
    return bad


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Moved]:
    tmp = tmp_path_factory.mktemp("portable")
    empty_pg(pg_database)
    with ThreadPoolExecutor(2) as pool:  # each node takes seconds to start
        starting = [pool.submit(Node, tmp / "a", str(tmp / "a.sqlite")),
                    pool.submit(Node, tmp / "b", pg_database)]
        a, b = (f.result() for f in starting)
    try:
        member = Party(tmp / "member", a)
        member.did = member.ok("init", "--name", "Ana")["did"]
        file = tmp / "export.json"
        exported = member.ok("export", str(file))
        document = json.loads(file.read_text())

        bad_record, bad_blob = tmp / "bad-record.json", tmp / "bad-blob.json"
        bad_record.write_text(json.dumps(tamper_record(document)))
        bad_blob.write_text(json.dumps(swap_blob(document)))
        tampered = together(member.start("import", str(bad_record), node=b),
                            member.start("import", str(bad_blob), node=b))
        chain_before = httpx.get(f"{b.url}/v1/members/{member.did}/chain").json()["records"]

        imported = member.ok("import", str(file), node=b)
        set_on_b, again = together(
            member.start("set", "city", "Porto", "--json", node=b),
            member.start("import", str(file), "--no-follow", "--json", node=b))
        yield Moved(a=a, b=b, member=member, exported=exported, document=document,
                    chain_before_import=chain_before,
                    tampered={"record": tampered[0], "blob": tampered[1]}, imported=imported,
                    set_on_b=as_json(set_on_b), again=as_json(again))
    finally:
        a.stop()
        b.stop()


def test_the_export_file_holds_chain_blobs_head_and_proofs(moved: Moved) -> None:
    doc = moved.document
    assert doc["format"] == FORMAT and doc["member"] == moved.member.did
    on_a = moved.chain(moved.a)
    assert [r["record"] for r in doc["records"]] == [r["record"] for r in on_a]
    assert [r["index"] for r in doc["records"]] == [r["index"] for r in on_a]
    assert len(doc["blobs"]) == 1 and doc["erased"] == []  # the name set by init
    health = httpx.get(f"{moved.a.url}/v1/health").json()
    assert doc["log"]["public_key"] == health["log_key"]
    verified = verify_export(doc)
    assert moved.exported["records"] == len(verified.records) == len(on_a)


def test_a_tampered_file_is_refused_with_one_line_and_nothing_appended(moved: Moved) -> None:
    assert "record 2 of the export" in one_error_line(moved.tampered["record"])
    assert "altered or swapped" in one_error_line(moved.tampered["blob"])
    assert moved.chain_before_import == []


def test_import_appends_the_same_records_and_the_member_carries_on(moved: Moved) -> None:
    n = len(moved.document["records"])
    assert moved.imported["appended"] == n and moved.imported["duplicates"] == 0
    assert moved.imported["wallet"] == str(moved.member.home)
    on_a, on_b = moved.chain(moved.a), moved.chain(moved.b)
    assert [r["id"] for r in on_b[:n]] == [r["id"] for r in on_a]
    assert [r["record"] for r in on_b[:n]] == [r["record"] for r in on_a]
    assert len(on_a) == n and len(on_b) == n + 1
    assert moved.set_on_b["seq"] == n + 1 and on_b[n]["id"] == moved.set_on_b["record"]
    assert json.loads(on_b[n]["record"])["prev"] == on_a[-1]["id"]


def test_importing_again_finds_every_record_already_there(moved: Moved) -> None:
    n = len(moved.document["records"])
    assert moved.again["duplicates"] == n and moved.again["appended"] == 0
    assert moved.again["wallet"] is None
