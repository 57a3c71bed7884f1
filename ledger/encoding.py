"""The one canonical encoding of Passport: RFC 8785 (JCS) JSON, and base64url without padding.

Nothing else in the project builds bytes to sign or hash.  Parsing is strict: the bytes a
client sends must already be the canonical form, so the bytes signed, hashed and stored are
the bytes received.
"""

from __future__ import annotations

import base64
import hashlib
import json
import operator
import re
from itertools import accumulate, count
from typing import Any

import orjson
import rfc8785

from ledger.errors import EncodingError, RecordError, RecordTooLargeError

# 64 KiB less one byte: a record is a tlog-tiles entry, whose length is a uint16
MAX_RECORD_BYTES = 64 * 1024 - 1
MAX_SAFE_INTEGER = 2**53 - 1  # I-JSON (RFC 7493): JCS refuses integers a double cannot hold
# Nesting is limited by the protocol, not by the interpreter's recursion limit (which some
# libraries raise on import): every node must refuse exactly the same records.
MAX_DEPTH = 128
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")

JSONValue = Any


def _depth(obj: JSONValue) -> int:
    """How deeply arrays and objects nest in ``obj`` (iterative: no recursion limit involved)."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            level += 1
            stack.extend((v, level) for v in value.values())
        elif isinstance(value, list):
            level += 1
            stack.extend((v, level) for v in value)
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
    return deepest


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether UTF-8 JSON text nests arrays and objects more than ``limit`` deep.

    A pre-scan for any parser that recurses (the stdlib's C scanner overflows the C stack, not
    just the recursion limit, when some import has raised that limit).  It parses nothing and
    runs at C speed in linear time: escaped backslashes, then escaped quotes, are dropped, so
    every quote left opens or closes a string (one left open runs to the end); the text between
    strings is kept, and the depth is the running sum of its brackets.  Up to the first byte a
    parser would refuse, this reads strings exactly as the parser does, so it never counts less
    than the parser would recurse.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case, at C speed
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    if outside.count(b"[") + outside.count(b"{") <= limit:
        return False
    # an opening bracket counts 2, a closing one 0: the depth after k brackets is the sum - k
    steps = outside.translate(_STEP, _NOT_BRACKET)
    deepest: int = max(map(operator.sub, accumulate(steps), count(1)))
    return deepest > limit


def canonical(obj: JSONValue) -> bytes:
    """RFC 8785 bytes of ``obj``; ``EncodingError`` for values JCS cannot represent."""
    if _depth(obj) > MAX_DEPTH:
        raise EncodingError(f"value is nested too deeply (more than {MAX_DEPTH} levels)")
    try:
        return _canonical(obj)
    except RecursionError as e:
        raise EncodingError("value is nested too deeply") from e


def _canonical(obj: JSONValue) -> bytes:
    if plain_json(obj):
        try:
            return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # too deep or a lone surrogate: rfc8785 below names which
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as e:
        if "non-UTF-8" in str(e):
            raise EncodingError("string is not valid Unicode (lone surrogate)") from e
        raise EncodingError(f"value cannot be encoded as canonical JSON: {e}") from e
    except UnicodeEncodeError as e:
        raise EncodingError("string is not valid Unicode (lone surrogate)") from e


def plain_json(obj: JSONValue) -> bool:
    """True where orjson's sorted output is exactly JCS: no floats, safe ints, ASCII keys.

    Code-point order equals JCS's UTF-16 order for ASCII keys, and both escape the same
    characters (``"``, ``\\`` and controls, as ``\\u00xx`` in lowercase or the short forms)
    and write the rest as UTF-8, so for such values the two agree byte for byte (tested
    against rfc8785 by property).
    """
    stack = [obj]  # iterative, and by exact type: this runs on every record received
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return False
        elif kind is dict:
            for key in value:
                if type(key) is not str or not key.isascii():
                    return False
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        else:
            return False
    return True


def _checked_int(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_SAFE_INTEGER)):  # before int(): no 4300-digit error
        raise EncodingError(f"integer {text[:20]} is outside the I-JSON range ±(2^53-1)")
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise EncodingError(f"integer {text[:20]} is outside the I-JSON range ±(2^53-1)")
    return value


def _no_constants(name: str) -> None:
    raise EncodingError(f"{name} is not JSON")


def parse_canonical(raw: bytes, *, limit: int = MAX_RECORD_BYTES) -> dict[str, JSONValue]:
    """Parse a JSON object that must be in canonical form already.

    Refuses (naming the problem): over ``limit`` bytes, not UTF-8, not JSON, not an object,
    duplicate keys, integers outside I-JSON, NaN/Infinity, any byte that differs from RFC 8785.
    """
    if len(raw) > limit:
        raise RecordTooLargeError(f"record is {len(raw)} bytes; the limit is {limit}")
    if too_deep(raw):
        raise EncodingError(f"record is nested too deeply (more than {MAX_DEPTH} levels)")
    fast = _parse_fast(raw)
    if fast is not None:
        return fast
    return _parse_strict(raw)


def parse_checked(raw: bytes) -> dict[str, JSONValue]:
    """Parse bytes that ``parse_canonical`` already accepted (read back from a worker or store)."""
    obj: dict[str, JSONValue] = orjson.loads(raw)
    return obj


def _parse_fast(raw: bytes) -> dict[str, JSONValue] | None:
    """The common case in a few microseconds; None sends anything unusual to the strict path.

    The strict path decides every refusal, so its messages are the only ones a client sees.
    """
    try:
        obj = orjson.loads(raw)
        if isinstance(obj, dict) and plain_json(obj) and orjson.dumps(
                obj, option=orjson.OPT_SORT_KEYS) == raw:
            return obj
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, RecursionError):
        pass
    return None


def _parse_strict(raw: bytes) -> dict[str, JSONValue]:
    floats: list[str] = []

    def _float(text: str) -> float:
        floats.append(text)
        return float(text)

    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, parse_float=_float, parse_int=_checked_int,
                         parse_constant=_no_constants)
    except UnicodeDecodeError as e:
        raise EncodingError(f"record is not UTF-8 (byte {e.start})") from e
    except RecursionError as e:
        raise EncodingError("record is nested too deeply") from e
    except json.JSONDecodeError as e:
        raise EncodingError(f"record is not JSON: {e.msg} at byte {e.pos}") from e
    if not isinstance(obj, dict):
        raise RecordError("record must be a JSON object")
    if not floats and raw.isascii():
        try:
            again = json.dumps(obj, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise EncodingError("record holds a lone surrogate (\\ud800-\\udfff)") from e
        except RecursionError as e:
            raise EncodingError("record is nested too deeply") from e
    else:
        again = canonical(obj)
    if again != raw:
        raise EncodingError(_explain_mismatch(text, raw, again))
    return obj


def _explain_mismatch(text: str, raw: bytes, again: bytes) -> str:
    dup = _first_duplicate_key(text)
    if dup is not None:
        return f"duplicate key {dup!r}"
    at = next((i for i, (a, b) in enumerate(zip(raw, again, strict=False)) if a != b),
              min(len(raw), len(again)))
    return f"not canonical JSON (RFC 8785): first difference at byte {at}"


def _first_duplicate_key(text: str) -> str | None:
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen and not found:
                found.append(k)
            seen.add(k)
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return None
    return found[0] if found else None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
_UNUSED_BITS_MASK = {2: 0x0F, 3: 0x03}  # by len % 4: bits of the last char that must be zero


def b64url_length(text: str, *, what: str = "value") -> int:
    """Check ``text`` is canonical base64url without padding; the length it decodes to.

    Checks what decoding would, without decoding: bodies only need to know a wrapped key is
    well formed and how long it is.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise EncodingError(f"{what} is not base64url without padding")
    rest = len(text) % 4
    if rest and _B64URL_VALUE[text[-1]] & _UNUSED_BITS_MASK[rest]:
        raise EncodingError(f"{what} is not in canonical base64url form")
    return len(text) * 3 // 4


def b64url_decode(text: str, *, what: str = "value") -> bytes:
    """Strict base64url without padding: one encoding per byte string, nothing else accepted."""
    b64url_length(text, what=what)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- sha256:<hex> names (record ids, blob names, commitments): built and parsed only here --------

DIGEST_PREFIX = "sha256:"
_DIGEST_NAME = re.compile(r"sha256:[0-9a-f]{64}")


def digest_name(digest: bytes) -> str:
    """``sha256:<hex>`` of a 32-byte digest already computed."""
    return DIGEST_PREFIX + digest.hex()


def sha256_name(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: the name of a record, a blob, a commitment."""
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def is_digest_name(name: object) -> bool:
    return isinstance(name, str) and _DIGEST_NAME.fullmatch(name) is not None


def parse_digest_name(name: str, *, what: str = "name") -> bytes:
    """The 32 bytes of a ``sha256:<64 lowercase hex>`` name; ``EncodingError`` otherwise."""
    if not is_digest_name(name):
        raise EncodingError(f"{str(name)[:80]!r} is not a {what} (sha256:<64 hex>)")
    return bytes.fromhex(name[len(DIGEST_PREFIX):])
