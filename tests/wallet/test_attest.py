"""wallet.attest.parse_claim: a claim on the command line is a JSON object, or one clear error."""

from __future__ import annotations

import pytest

from wallet.attest import parse_claim
from wallet.errors import UsageError


def test_a_json_object_is_a_claim() -> None:
    assert parse_claim('{"kind": "presence", "n": 1}') == {"kind": "presence", "n": 1}


@pytest.mark.parametrize(("text", "says"), [
    ("{nope", "not JSON"), ("[1, 2]", "JSON object"), ('"helped"', "JSON object"),
    ("", "not JSON"),
])
def test_anything_else_is_refused(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse_claim(text)
