"""The key store: sealed under the passphrase, header bound, written atomically, mode 0600."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger import keys
from ledger.encoding import b64url_encode
from wallet import keystore
from wallet.errors import KeystoreError, WrongPassphraseError

PASS = "a long enough passphrase"


def saved(tmp_path: Path, role: str = "member") -> keystore.Keystore:
    store = keystore.create(role)
    keystore.save(store, tmp_path, PASS, profile="interactive")
    return store


def test_round_trip_and_file_mode(tmp_path: Path) -> None:
    store = saved(tmp_path)
    loaded = keystore.load(tmp_path, PASS)
    assert loaded.did == store.did and loaded.seeds == store.seeds and loaded.role == "member"
    path = keystore.path_in(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(tmp_path.glob(".tmp-*")) == []


def test_no_seed_or_passphrase_in_clear(tmp_path: Path) -> None:
    store = saved(tmp_path)
    text = keystore.path_in(tmp_path).read_bytes()
    for seed in store.seeds:
        assert seed not in text and seed.hex().encode() not in text
        assert b64url_encode(seed).encode() not in text
    assert PASS.encode() not in text


def test_wrong_passphrase_is_one_clear_error(tmp_path: Path) -> None:
    saved(tmp_path)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase") as info:
        keystore.load(tmp_path, "not the passphrase")
    assert PASS not in str(info.value)


@pytest.mark.parametrize("edit", [
    lambda d: d | {"did": keys.did_of(keys.generate())},
    lambda d: d | {"role": "service"},
    lambda d: d | {"kdf": d["kdf"] | {"opslimit": d["kdf"]["opslimit"] + 1}},
    lambda d: d | {"box": d["box"][:-4] + "AAAA"},
])
def test_an_edited_file_does_not_open(tmp_path: Path, edit: object) -> None:
    saved(tmp_path)
    path = keystore.path_in(tmp_path)
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))  # type: ignore[operator]
    with pytest.raises(KeystoreError):
        keystore.load(tmp_path, PASS)


def test_missing_damaged_and_short_passphrase(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="passport init"):
        keystore.load(tmp_path, PASS)
    keystore.path_in(tmp_path).write_text("{not json")
    with pytest.raises(KeystoreError, match="not a readable key store"):
        keystore.load(tmp_path, PASS)
    with pytest.raises(KeystoreError, match="at least 8"):
        keystore.save(keystore.create("member"), tmp_path / "x", "short")
    with pytest.raises(KeystoreError, match="unknown role"):
        keystore.create("admin")


def test_keys_found_by_public_key_and_by_commitment(tmp_path: Path) -> None:
    store = saved(tmp_path)
    second = store.signing_keys[1]
    assert store.key_for(bytes(second.verify_key)) == second
    assert store.key_committed_to(keys.key_commitment(bytes(second.verify_key))) == second
    with pytest.raises(KeystoreError):
        store.key_for(bytes(keys.generate().verify_key))
    added = store.add()
    assert keystore.load(tmp_path, PASS).seeds == store.seeds[:2]  # not saved yet
    keystore.save(store, tmp_path, PASS, profile="interactive")
    assert bytes(added) in keystore.load(tmp_path, PASS).seeds
