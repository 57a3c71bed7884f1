"""Key material never leaves the key store: not in output, errors, the node's log or other files.

The real ``passport`` binary and a real node go through a whole scenario (init, set, grant, a
service's read, a refused read, rotate-key, a write under the new key, receipts, a wrong
passphrase, an unreachable node, refused commands).  Then every byte of every command's stdout
and stderr, of the node's log and of every file of the wallet homes except ``keystore.json``
(and of the node's database) is searched for every seed and private key the wallets hold, in
hex, base64 and base64url (at every byte alignment), for the keys derived from them (64-byte
secret keys, X25519 private keys, the Argon2id key-store key), and for the passphrase.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nacl.bindings as sodium
import nacl.signing
import pytest

from cli.main import main
from tests.api.conftest import Node
from tests.cli.support import PASSPHRASE, Party, together
from wallet import keystore

WRONG = "not the passphrase at all"
ROOT = Path(__file__).resolve().parents[2]


def encodings(secret: bytes) -> set[bytes]:
    """Spellings of ``secret`` that would show it: hex, base64 and base64url, even inside a
    longer encoded string (the middle characters for each of the three byte alignments)."""
    forms = {secret.hex().encode(), secret.hex().upper().encode(), secret}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + secret).rstrip(b"=")
            skip = (shift * 4 + 2) // 3 + 1  # characters touched by the padding bytes
            forms.add(text[skip:-2])
    return {f for f in forms if len(f) >= 16}


def secrets_of(home: Path) -> dict[str, bytes]:
    """Every secret a wallet holds or derives, named for the failure message."""
    store = keystore.load(home, PASSPHRASE)
    found: dict[str, bytes] = {}
    for i, seed in enumerate(store.seeds):
        key = nacl.signing.SigningKey(seed)
        secret64 = seed + bytes(key.verify_key)
        found[f"{home.name} seed {i}"] = seed
        found[f"{home.name} secret key {i}"] = secret64
        found[f"{home.name} x25519 key {i}"] = sodium.crypto_sign_ed25519_sk_to_curve25519(
            secret64)
    head = keystore.header(home)["kdf"]
    found[f"{home.name} key-store key"] = keystore._derive(
        PASSPHRASE, base64.urlsafe_b64decode(head["salt"] + "=" * (-len(head["salt"]) % 4)),
        int(head["opslimit"]), int(head["memlimit"]))
    return found


def leaks(haystacks: dict[str, bytes], secrets: dict[str, bytes]) -> list[str]:
    found = []
    needles = {name: encodings(s) for name, s in secrets.items()}
    needles["passphrase"] = {PASSPHRASE.encode(), WRONG.encode()}
    for where, data in haystacks.items():
        for name, forms in needles.items():
            if any(f in data for f in forms):
                found.append(f"{name} in {where}")
    return found


def run_cli(*args: str, node: str, passphrase: str = PASSPHRASE
            ) -> subprocess.CompletedProcess[str]:
    """``cli.main.main`` in this process (the binary without its start-up cost): its exit
    status and everything it printed."""
    env = {"PASSPORT_PASSPHRASE": passphrase, "PASSPORT_KDF": "interactive",
           "PASSPORT_NODE": node, "COLUMNS": "200"}
    saved = {k: os.environ.get(k) for k in [*env, "PASSPORT_HOME", "PASSPORT_DEBUG"]}
    os.environ.update(env)
    os.environ.pop("PASSPORT_HOME", None)
    os.environ.pop("PASSPORT_DEBUG", None)
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["passport", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, list[Party],
                                                                        dict[str, bytes]]]:
    tmp = tmp_path_factory.mktemp("leaks")
    node = Node(tmp / "node", str(tmp / "node" / "node.sqlite"))
    alice, service = Party(tmp / "alice", node), Party(tmp / "service", node)
    outputs: dict[str, bytes] = {}
    steps = 0

    def keep(label: str, result: subprocess.CompletedProcess[str]
             ) -> subprocess.CompletedProcess[str]:
        nonlocal steps
        steps += 1
        outputs[f"{steps:02d} {label} stdout"] = result.stdout.encode("utf-8", "surrogateescape")
        outputs[f"{steps:02d} {label} stderr"] = result.stderr.encode("utf-8", "surrogateescape")
        return result

    def as_(party: Party, *args: str, passphrase: str = PASSPHRASE, url: str = ""
            ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "--home", str(party.home), node=url or node.url,
                       passphrase=passphrase)

    def ok(label: str, party: Party, *args: str) -> object:
        result = keep(label, as_(party, *args, "--json"))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def refused(label: str, result: subprocess.CompletedProcess[str]) -> str:
        keep(label, result)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stdout + result.stderr
        return result.stderr

    try:
        # Two commands through the real binary, in processes of their own, side by side.
        made = together(alice.start("init", "--name", "Alice", "--json"),
                        service.start("init", "--name", "Rides", "--role", "service", "--json"))
        for label, party, result in zip(("init alice", "init service"), (alice, service), made,
                                        strict=True):
            keep(label, result)
            assert result.returncode == 0, result.stderr
            party.did = json.loads(result.stdout)["did"]
        ok("set activity", alice, "set", "activity", "Designing rides")
        ok("set city", alice, "set", "city", "Utrecht")
        ok("grant", alice, "grant", service.did, "--fields", "activity", "--purpose", "rides",
           "--yes")
        read = ok("read", service, "read", alice.did, "--fields", "activity")
        assert "Designing rides" in json.dumps(read)
        refused("read not granted", as_(service, "read", alice.did, "--fields", "city"))
        ok("rotate-key", alice, "rotate-key")
        ok("set after rotation", alice, "set", "activity", "Riding")
        ok("receipts", alice, "receipts")
        ok("show", alice, "show")
        assert "passphrase" in refused("wrong passphrase",
                                       as_(alice, "show", passphrase=WRONG)).lower()
        refused("unreachable node", as_(alice, "show", url="http://127.0.0.1:1"))
        refused("bad grantee", as_(alice, "grant", "did:key:nonsense", "--fields", "city",
                                   "--purpose", "x"))
        refused("unknown grant", as_(alice, "revoke", "g-does-not-exist"))
        refused("unknown record", as_(alice, "prove", "sha256:" + "ab" * 32))
        refused("rotate-key, node unreachable", as_(service, "rotate-key",
                                                    url="http://127.0.0.1:1"))
        yield node, [alice, service], outputs
    finally:
        node.stop()


def test_no_key_material_in_any_output_log_or_file(
        scenario: tuple[Node, list[Party], dict[str, bytes]]) -> None:
    node, parties, outputs = scenario
    secrets: dict[str, bytes] = {}
    for party in parties:
        secrets |= secrets_of(party.home)
    assert sum("seed" in name for name in secrets) >= 4  # alice rotated: at least 3, service 2
    haystacks = dict(outputs)
    haystacks["node.log"] = node.log.read_bytes()
    files = [p for party in parties for p in party.home.rglob("*")
             if p.is_file() and p.name != keystore.FILE_NAME]
    files += [p for p in node.home.rglob("*") if p.is_file() and p.name != "log.key"]
    for path in files:
        haystacks[str(path)] = path.read_bytes()
    assert any("node.sqlite" in k for k in haystacks) and len(haystacks) > 30
    found = leaks(haystacks, secrets)
    assert not found, found
    # ... and the key stores hold them only sealed.
    for party in parties:
        assert not leaks({"keystore": keystore.path_in(party.home).read_bytes()}, {
            k: v for k, v in secrets.items() if k.startswith(party.home.name) and "seed" in k})


def test_the_search_finds_a_key_that_does_leak(
        scenario: tuple[Node, list[Party], dict[str, bytes]]) -> None:
    """The search above can fail: a seed written in any of the forms, anywhere, is found."""
    _, parties, _ = scenario
    seed = keystore.load(parties[0].home, PASSPHRASE).seeds[0]
    secrets = {"seed": seed}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode, lambda b: b.hex().encode()):
            blob = b"log line: " + encode(b"xyz"[:shift] + seed + b"tail") + b"\n"
            assert leaks({"log": blob}, secrets) == ["seed in log"], (shift, blob)
    assert leaks({"log": b"passphrase was " + PASSPHRASE.encode()}, {}) == ["passphrase in log"]
