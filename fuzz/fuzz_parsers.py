"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser that reads untrusted bytes.

One target: the first input byte picks the parser, the rest is its input.  Each parser must
answer a value or its own specific error (``LedgerError``, or ``ApiError`` for signed-request
headers); any other exception is a crash that libFuzzer reports with the input that caused it.
What is accepted is checked too: a record or canonical object re-encodes to the same bytes, and
a checkpoint verifies only under the key that signed it.

    make fuzz                                 # FUZZ_SECONDS (default 300), corpus in fuzz/corpus
    .venv/bin/python fuzz/fuzz_parsers.py -max_total_time=60 fuzz/corpus
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from ledger import keys, merkle
    from ledger.chain import Author
    from ledger.checkpoint import TreeHead, parse_checkpoint, sign_tree_head
    from ledger.encoding import canonical, parse_canonical
    from ledger.errors import LedgerError
    from ledger.records import parse_record
    from passport_api.errors import ApiError
    from passport_api.signing import sign_request, verify_request

ROOT = Path(__file__).resolve().parents[1]
LOG_KEY = keys.generate()
HEAD = TreeHead(origin="passport.local/log/fuzz", size=7, root=b"\x01" * 32,
                timestamp_ms=1_800_000_000_000)
NOW = 1_800_000_000
PATH = "/v1/reads"


def seeds() -> list[bytes]:
    """Valid inputs of each kind, so mutations start from deep inside each parser."""
    author = Author(keys.generate())
    record = author.next("passport.clear", {"field": "today"}).raw
    headers = sign_request(LOG_KEY, "POST", PATH, "", b"{}", created=NOW)
    joined = "\n".join(headers[k] for k in ("content-digest", "signature-input", "signature"))
    tree = merkle.MemoryTree()
    for i in range(9):
        tree.append(b"%d" % i)
    proof = b"".join(tree.consistency_proof(3, 9))
    return [b"\0" + record, b"\1" + record, b"\2" + sign_tree_head(HEAD, LOG_KEY),
            b"\3" + joined.encode(), b"\4\3\11" + proof]


def one_input(data: bytes) -> None:
    if not data:
        return
    kind, rest = data[0] % 5, data[1:]
    try:
        if kind == 0:
            record = parse_record(rest)
            assert record.raw == rest and canonical(parse_canonical(rest)) == rest
        elif kind == 1:
            obj = parse_canonical(rest)
            assert canonical(obj) == rest
        elif kind == 2:
            assert parse_checkpoint(rest, LOG_KEY.verify_key) == HEAD
        elif kind == 3:
            parts = rest.decode("latin-1").split("\n")
            headers = dict(zip(("content-digest", "signature-input", "signature"), parts,
                               strict=False))
            verify_request("POST", PATH, "", headers, b"{}", now=NOW, max_skew_s=300)
        else:
            if len(rest) < 2:
                return
            old, new, proof = rest[0], rest[1], rest[2:]
            hashes = [proof[i:i + 32] for i in range(0, len(proof), 32)]
            tree = merkle.MemoryTree()
            for i in range(max(old, new, 1)):
                tree.append(b"%d" % i)
            genuine = old and old <= new and hashes == tree.consistency_proof(old, new)
            try:
                merkle.verify_consistency(old, new, hashes, tree.root(old) if old else b"",
                                          tree.root(new))
            except LedgerError:
                assert not genuine
                return
            assert genuine or old == new
    except (LedgerError, ApiError):
        return


def main() -> None:
    corpus = ROOT / "fuzz" / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
