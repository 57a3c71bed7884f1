"""Prompts people meet: the passphrase rule is checked before it is asked a second time, and
consent asks first, refusing when nobody is at a terminal."""

from __future__ import annotations

import io
import sys

import pytest

from cli import common
from wallet.errors import KeystoreError, UsageError


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_short_passphrase_is_refused_before_the_second_prompt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.delenv(common.ENV_PASSPHRASE, raising=False)
    monkeypatch.setattr(sys, "stdin", _Tty())
    monkeypatch.setattr(common.getpass, "getpass",
                        lambda prompt: asked.append(prompt) or "short")
    with pytest.raises(KeystoreError, match="at least 8 characters"):
        common.passphrase(confirm=True)
    assert asked == ["Passphrase: "]


def test_consent_asks_and_a_no_changes_nothing(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal: refused
    with pytest.raises(UsageError, match="--yes"):
        common.confirm(["Grant", "  to: RideShare"], "Grant?", yes=False)
    common.confirm(["Grant"], "Grant?", yes=True)  # --yes: no question
    monkeypatch.setattr(sys, "stdin", _Tty())
    monkeypatch.setattr(common.typer, "confirm", lambda *a, **k: False)
    with pytest.raises(common.NotConfirmedError, match="nothing was done"):
        common.confirm(["Grant", "  to: RideShare"], "Grant?", yes=False)
    assert "to: RideShare" in capsys.readouterr().err  # shown before asking, on stderr
