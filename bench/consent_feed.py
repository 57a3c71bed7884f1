"""What a consent-feed poll costs on a large existing ledger (read-only), by records since cursor.

``python -m bench.consent_feed --db bench/out/ledger-1000000.sqlite`` opens the SQLite file
read-only, picks the grantee named by the most ``consent.grant`` records in the last 100,000
records, and times ``ledger.store.consent_feed.consent_feed`` (the node's handler minus HTTP)
from cursors 0, 1,000, 10,000 and 100,000 records before the end of the log: a poll's cost
should follow the records since the cursor, not the size of the log.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import cast

import sqlalchemy as sa

from ledger.records import parse_record
from ledger.store import schema as t
from ledger.store.consent_feed import consent_feed
from ledger.store.ledger import Ledger


class _ReadOnly:
    """Just what ``consent_feed`` uses of a ``Ledger``: its engine (no log state is written)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    engine = sa.create_engine(f"sqlite:///file:{args.db.resolve()}?mode=ro&uri=true")
    ledger = cast(Ledger, _ReadOnly(engine))
    c = t.records.c
    with engine.connect() as conn:
        size = int(conn.execute(sa.select(sa.func.max(c.idx))).scalar_one()) + 1
        rows = conn.execute(sa.select(c.raw).where(c.type == "consent.grant",
                                                    c.idx > size - 100_000)).all()
    grantees = Counter(parse_record(bytes(r.raw)).body["grantee"] for r in rows)
    grantee, grants = grantees.most_common(1)[0]
    out: dict[str, object] = {"log_size": size, "grantee_grants_in_last_100k": grants,
                              "distinct_grantees_in_last_100k": len(grantees), "polls": []}
    for back in (0, 1_000, 10_000, 100_000):
        times, found = [], 0
        for _ in range(args.repeat):
            cursor, n = size - 1 - back, 0
            t0 = time.perf_counter()
            while True:
                page = consent_feed(ledger, grantee, after_index=cursor, limit=1000)
                n += len(page.records)
                cursor = page.scanned_to
                if not page.more:
                    break
            times.append((time.perf_counter() - t0) * 1000)
            found = n
        cast(list[object], out["polls"]).append(
            {"records_since_cursor": back, "feed_records": found,
             "median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)})
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
