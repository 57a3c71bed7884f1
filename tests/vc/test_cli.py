"""``passport present`` and ``passport verify-presentation`` through the real command against a
real node.  Each start of the command costs seconds, so one module fixture runs them, side by
side where they are independent, and the tests assert on what each printed and wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.main import main
from tests.api.conftest import Node
from tests.cli.support import PASSPHRASE, Party, as_json, one_error_line, start, together
from wallet import keystore
from wallet.attest import attest
from wallet.vc_credentials import ATTESTATION_CREDENTIAL, FIELD_CREDENTIAL
from wallet.wallet import Wallet

Run = subprocess.CompletedProcess[str]
CLAIM = {"kind": "presence", "space": "Seats2meet Utrecht"}


@dataclass
class World:
    member: Party
    desk: Party
    tmp: Path
    attestation: str
    log_key: str
    field_file: Path
    attestation_file: Path
    presented: Any
    verified_field: Run
    verified_attestation: Run


@pytest.fixture(scope="module")
def world(node: Node, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The real command in its own process for what a member and a verifier would run."""
    tmp = tmp_path_factory.mktemp("vc-cli")
    member, desk = Party(tmp / "alice", node), Party(tmp / "desk", node)
    # the parties are set up in this process (their own commands are tested elsewhere)
    wallets = {}
    for party, role in ((member, "member"), (desk, "space")):
        keystore.save(keystore.create(role), party.home, PASSPHRASE, profile="interactive")
        wallets[role] = Wallet(party.home, keystore.load(party.home, PASSPHRASE), PASSPHRASE,
                               node.url)
        wallets[role].sync()
        party.did = wallets[role].did
    wallets["member"].set("city", "Utrecht")
    attestation = attest(wallets["space"], member.did, CLAIM).id
    for wallet in wallets.values():
        wallet.close()
    field_file, attestation_file = tmp / "city.vc.json", tmp / "presence.vc.json"
    presented = [as_json(r) for r in together(
        member.start("present", "city", "--out", str(field_file), "--with-proof", "--json"),
        member.start("present", "--attestation", attestation, "--out", str(attestation_file),
                     "--with-proof", "--json"))]
    log_key = httpx.get(node.url + "/v1/health").json()["log_key"]
    verified = together(
        start("verify-presentation", str(field_file), "--log-key", log_key, node=node.url),
        start("verify-presentation", str(attestation_file), "--log-key", log_key,
              node=node.url))
    return World(member, desk, tmp, attestation, log_key, field_file, attestation_file,
                 presented, *verified)


@pytest.fixture
def main_here(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
              ) -> Callable[..., Run]:
    """``cli.main.main`` in this process (the same entry point, without a second's start-up):
    for the variations that need no process of their own."""
    monkeypatch.setenv("PASSPORT_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("PASSPORT_KDF", "interactive")
    monkeypatch.setenv("PASSPORT_NODE", world.member.node.url)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("PASSPORT_DEBUG", raising=False)

    def run(*args: str) -> Run:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["passport", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        return Run(["passport", *args], int(exited.value.code or 0), captured.out,
                   captured.err)

    return run


def test_present_writes_a_field_credential(world: World) -> None:
    doc = json.loads(world.field_file.read_text())
    assert doc["type"] == ["VerifiableCredential", FIELD_CREDENTIAL]
    assert doc["issuer"] == world.member.did
    assert doc["credentialSubject"]["value"] == "Utrecht"
    assert doc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert world.presented[0]["kind"] == FIELD_CREDENTIAL
    assert world.field_file.stat().st_mode & 0o077 == 0  # it discloses a value: owner only


def test_present_writes_an_attestation_credential(world: World) -> None:
    doc = json.loads(world.attestation_file.read_text())
    assert doc["type"] == ["VerifiableCredential", ATTESTATION_CREDENTIAL]
    assert doc["credentialSubject"]["attester"] == world.desk.did
    assert doc["credentialSubject"]["claim"] == CLAIM


def test_verify_prints_one_line_per_check(world: World) -> None:
    result = world.verified_field
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[:2] for line in lines[:-2]] == [
        ["ok", " format"], ["ok", " proof"], ["ok", " key"], ["ok", " commitment"],
        ["ok", " record"], ["ok", " inclusion"], ["ok", " checkpoint"]]
    assert lines[-2] == f"ok: {FIELD_CREDENTIAL} of {world.member.did} verifies"
    city = json.loads(world.field_file.read_text())["credentialSubject"]["value"]
    assert lines[-1] == f"city: {city}"  # the value it verified, last


def test_verify_json(world: World, main_here: Callable[..., Run]) -> None:
    report = as_json(main_here("verify-presentation", str(world.field_file), "--log-key",
                               world.log_key, "--json"))
    assert report["ok"] is True and report["member"] == world.member.did
    assert {c["check"]: c["status"] for c in report["checks"]}["checkpoint"] == "ok"


def test_verify_an_attestation(world: World) -> None:
    result = world.verified_attestation
    assert result.returncode == 0, result.stderr
    assert "ok: claim: the sealed claim, decrypted with the disclosed content key" in \
        result.stdout
    assert result.stdout.splitlines()[-2].startswith(f"ok: {ATTESTATION_CREDENTIAL}")
    assert result.stdout.splitlines()[-1].startswith("claim: {")  # the verified claim, as JSON


def test_unchecked_parts_are_said_so(world: World, main_here: Callable[..., Run]) -> None:
    bare = world.tmp / "bare.vc.json"
    assert main_here("present", "city", "--out", str(bare), "--home",
                     str(world.member.home)).returncode == 0
    result = main_here("verify-presentation", str(bare))
    assert result.returncode == 0, result.stderr
    assert "not checked: record:" in result.stdout
    assert "not checked: checkpoint:" in result.stdout
    assert "Utrecht" in bare.read_text()


def test_a_tampered_credential_is_one_error_line(world: World,
                                                 main_here: Callable[..., Run]) -> None:
    doc = json.loads(world.field_file.read_text())
    doc["credentialSubject"]["value"] = "Paris"
    tampered = world.tmp / "tampered.vc.json"
    tampered.write_text(json.dumps(doc))
    line = one_error_line(main_here("verify-presentation", str(tampered)))
    assert line.startswith("passport: error: proof: the eddsa-jcs-2022 signature does not verify")


def test_a_wrong_log_key_is_refused(world: World, main_here: Callable[..., Run]) -> None:
    result = main_here("verify-presentation", str(world.field_file), "--log-key", "00" * 31 + "01")
    assert one_error_line(result).startswith("passport: error: checkpoint: ")


def test_a_file_that_is_not_json_is_one_error_line(world: World,
                                                   main_here: Callable[..., Run]) -> None:
    junk = world.tmp / "junk.json"
    junk.write_text("{not json")
    assert "format: cannot read a JSON credential" in one_error_line(
        main_here("verify-presentation", str(junk)))


def test_present_needs_exactly_one_thing_to_present(world: World,
                                                    main_here: Callable[..., Run]) -> None:
    home = ("--home", str(world.member.home))
    assert "name a FIELD to present, or --attestation ID" in one_error_line(
        main_here("present", "--out", str(world.tmp / "x.json"), *home))
    assert "not both" in one_error_line(main_here(
        "present", "city", "--attestation", world.attestation, "--out",
        str(world.tmp / "y.json"), *home))
    assert "'nosuchfield' has no value" in one_error_line(main_here(
        "present", "nosuchfield", "--out", str(world.tmp / "z.json"), *home))


def test_verify_with_the_members_exported_chain(world: World,
                                               main_here: Callable[..., Run]) -> None:
    chain = world.tmp / "alice.export.json"
    assert main_here("export", str(chain), "--home", str(world.member.home)).returncode == 0
    result = main_here("verify-presentation", str(world.field_file), "--chain", str(chain))
    assert result.returncode == 0, result.stderr
    assert "ok: key: the proof's key is in force on the member's chain" in result.stdout
    assert "the field's current value on that chain" in result.stdout


def test_an_unwritable_out_is_one_error_line(world: World, main_here: Callable[..., Run]) -> None:
    result = main_here("present", "city", "--out", str(world.tmp / "no" / "such" / "dir.json"),
                       "--home", str(world.member.home))
    assert "cannot write" in one_error_line(result)
