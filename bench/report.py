"""How a benchmark hands over its figures: printed as JSON, and written to ``--json`` when asked
(the path's folders made as needed), so a cut run still leaves its last full result."""

from __future__ import annotations

import json
from pathlib import Path


def print_result(result: object, path: Path | None, *, ensure_ascii: bool = True) -> None:
    text = json.dumps(result, indent=1, ensure_ascii=ensure_ascii)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
