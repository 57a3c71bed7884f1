"""Output that survives a pipe: tables that fit or become one record per line, identifiers
never wrapped, local times for people and RFC 3339 UTC for programs, JSON for structure.

Every command prints through here (``emit``, ``render``) so the rules hold everywhere.
"""

from __future__ import annotations

import json
import shutil
import sys
from typing import TYPE_CHECKING, Any

from wallet.names import local_time

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["Out", "Table", "emit", "local_time", "render", "value_text"]

COLUMN_GAP = 3  # what Rich spends between columns, borders included


def console() -> Console:
    """A console that never wraps or highlights (a value is never read as markup)."""
    from rich.console import Console  # noqa: PLC0415 (Rich loads when something renders)

    return Console(highlight=False, soft_wrap=True, emoji=False, markup=False)


class Out:
    """Standard output for commands: ``console()``, made on first use; a ``Table`` that will
    be printed as plain lines (not a terminal, or too narrow) is printed without Rich, so a
    command whose output goes to a pipe never imports it."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        if len(objects) == 1 and isinstance(objects[0], Table) and not objects[0].rich():
            print("\n".join(objects[0].lines()))
            return
        if self._console is None:
            self._console = console()
        self._console.print(*objects, **options)


def is_tty() -> bool:
    return sys.stdout.isatty()


def width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def value_text(value: Any) -> str:
    """A value for a person: text as is, anything structured as JSON (never Python repr)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, default=str)


def emit(as_json: bool, data: Any, text: str | None = None) -> None:
    """``data`` as JSON for programs, or ``text`` for people (printed as is, never wrapped)."""
    if as_json:
        print(to_json(data))
    elif text is not None:
        print(text)


def fits(columns: tuple[str, ...], rows: list[list[str]], limit: int) -> bool:
    widest = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    return sum(widest) + COLUMN_GAP * len(columns) + 1 <= limit


class Table:
    """A table that renders as a Rich table when stdout is a terminal wide enough for every
    cell on one line, and otherwise as a header line and one record per line, columns
    separated by tabs (``cut -f2`` works); identifiers are never wrapped either way."""

    def __init__(self, columns: tuple[str, ...], rows: list[list[str]],
                 title: str | None = None) -> None:
        self.columns, self.rows, self.title = columns, rows, title

    def rich(self) -> bool:
        """Whether it renders as a Rich table (a terminal wide enough for every cell)."""
        return is_tty() and fits(self.columns, self.rows, width())

    def __rich_console__(self, con: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment  # noqa: PLC0415
        from rich.table import Column  # noqa: PLC0415
        from rich.table import Table as RichTable  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        if self.rich():
            shown = RichTable(*[Column(c, no_wrap=True) for c in self.columns],
                              title=self.title)
            for cells in self.rows:
                shown.add_row(*(Text(c) for c in cells))
            yield shown
            return
        for line in self.lines():  # segments as is: Rich neither wraps nor expands the tabs
            yield Segment(line)
            yield Segment.line()

    def lines(self) -> list[str]:
        head = [f"# {self.title}"] if self.title else []
        return [*head, "\t".join(self.columns), *(
            "\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells)
            for cells in self.rows)]


def render(columns: tuple[str, ...], rows: list[list[str]], *, title: str | None = None,
           empty: str = "nothing to show") -> None:
    """``Table`` printed, or ``empty`` when there is no row."""
    if not rows:
        print(empty)
        return
    console().print(Table(columns, rows, title))
