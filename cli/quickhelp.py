"""``passport --help`` from the command index alone: no Typer, no command imported.

The index (``help_index.json``) is written from the real commands by ``python -m cli.lazy``
and checked against them by ``tests/cli/test_lazy_help.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

INDEX = Path(__file__).with_name("help_index.json")
HELP = "Passport: member-owned passports on a signed, append-only ledger."


def plain_help() -> str:
    entries: dict[str, str] = json.loads(INDEX.read_text(encoding="utf-8"))
    width = max(60, min(shutil.get_terminal_size().columns, 120))
    name_w = max(len(n) for n in entries) + 2
    room = width - 2 - name_w
    lines = ["Usage: passport [OPTIONS] COMMAND [ARGS]...", "", f"  {HELP}", "", "Options:",
             "  --help  Show this message and exit.", "", "Commands:"]
    for name, text in entries.items():
        first = text.strip().split("\n\n")[0].replace("\n", " ")
        if len(first) > room:
            first = first[:room - 3].rsplit(" ", 1)[0] + "..."
        lines.append(f"  {name:<{name_w}}{first}")
    return "\n".join(lines)
