"""A worker's consent view of a member, cold and after one more record (issue 18).

``python -m bench.view_fold [repeat]`` builds a SQLite ledger in a temporary directory per
chain length (10, 100, 1,000 ``passport.set`` records over up to 20 fields), then times, in
process, ``ReadCache.view``:

- cold: a fresh cache, so the member's whole chain is read, checked and folded (what almost
  every read on a 1M-record ledger pays, once per member per worker);
- refold: a warm cache after the member appended one more set (what ``passport read`` pays
  after a ``passport set``).

Prints the median of each in µs.  Run it from two checkouts one after the other to compare.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from ledger import keys
from ledger.chain import Author
from ledger.store.ledger import Ledger
from passport_api.read_cache import ReadCache
from wallet.fields import set_field


def median_us(samples: list[float]) -> int:
    return round(statistics.median(samples) * 1e6)


def one_length(where: Path, length: int, repeat: int) -> str:
    ledger = Ledger.open(str(where), log_key=keys.generate(), verify_workers=0)
    member, reader = Author(keys.generate()), keys.did_of(keys.generate())
    raws: list[bytes] = []
    blobs: dict[str, bytes] = {}
    for i in range(length):
        update = set_field(member, f"field_{i % 20}", f"value {i}", [reader])
        raws.append(update.record.raw)
        blobs.update(update.blobs)
    ledger.append_batch(raws, blobs)
    seq = ledger.read_marks(member.did)[1]
    cold: list[float] = []
    for _ in range(repeat):
        cache = ReadCache(ledger)
        start = time.perf_counter()
        cache.view(member.did, seq)
        cold.append(time.perf_counter() - start)
    cache = ReadCache(ledger)
    cache.view(member.did, seq)
    refold: list[float] = []
    for _ in range(min(repeat, 100)):
        update = set_field(member, "field_0", "again", [reader])
        ledger.append_batch([update.record.raw], update.blobs)
        seq = ledger.read_marks(member.did)[1]
        start = time.perf_counter()
        cache.view(member.did, seq)
        refold.append(time.perf_counter() - start)
    ledger.close()
    return (f"chain {length}: cold {median_us(cold)} us, "
            f"refold after one set {median_us(refold)} us")


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        for length in (10, 100, 1000):
            print(one_length(Path(tmp) / f"chain{length}.sqlite", length, repeat), flush=True)


if __name__ == "__main__":
    main()
