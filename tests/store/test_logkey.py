"""The node's log key file: made once, reused, refused when unsafe or malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import KeyFormatError, StoreError
from ledger.store.logkey import LOG_KEY_FILE, load_or_create_log_key


def test_made_once_private_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = load_or_create_log_key(home)
    path = home / LOG_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_log_key(home).encode() == key.encode()
    assert not list(home.glob("*.tmp"))


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_log_key(tmp_path)
    (tmp_path / LOG_KEY_FILE).chmod(0o644)
    with pytest.raises(StoreError, match="readable by other users"):
        load_or_create_log_key(tmp_path)


@pytest.mark.parametrize(("content", "words"), [("zz" * 32, "hex"), ("ab" * 31, "32-byte")])
def test_malformed_is_refused_without_showing_it(tmp_path: Path, content: str,
                                                 words: str) -> None:
    path = tmp_path / LOG_KEY_FILE
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyFormatError, match=words) as info:
        load_or_create_log_key(tmp_path)
    assert content not in str(info.value)
