"""``passport match eval DATASET.json``: the matcher's answers on a community you describe.

No wallet, node or network: the dataset holds the granted values (docs/protocol.md §19), and
the answers come from the same profile building, index and rank functions the matcher serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import AsJson, emit, out, table
from cli.match_cmds import app
from wallet.errors import UsageError


@app.command("eval")
def evaluate(dataset: Annotated[Path, typer.Argument(help="community and queries (JSON, "
                                                     "docs/protocol.md §19)")],
             as_json: AsJson = False) -> None:
    """Answer every query of a community described in a file, with timings."""
    from matching.evaluate import DatasetError, run  # (loads the model only here)

    try:
        data = json.loads(dataset.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read {dataset}: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{dataset} is not JSON: {e}") from e
    try:
        result = run(data)
    except DatasetError as e:
        raise UsageError(f"{dataset}: {e}") from e
    if as_json:
        emit(True, result)
        return
    out.print(table(("query", "answer"), [[q, ", ".join(ids) or "-"]
                                          for q, ids in result["answers"].items()]))
    out.print(json.dumps(result["timings"]))
