"""``passport --help`` in a blink: the top-level command list comes from a small index
(``help_index.json``: each command's name and help text), so listing the commands imports
none of them (no wallet, no HTTP client, no web stack).  A command that runs, or whose own
``--help`` is asked for, loads the full command set (``cli.full``) first.

``tests/cli/test_lazy_help.py`` fails when the index no longer matches the commands; then run
``python -m cli.lazy`` to write it again.
"""

from __future__ import annotations

import json
from functools import cache

import typer.main
from typer import _click  # Typer 0.29 vendors click: its Context and Command types
from typer.core import TyperCommand, TyperGroup

from cli.quickhelp import INDEX


@cache
def full_group() -> TyperGroup:
    from cli import full  # noqa: PLC0415  (the whole CLI: only when a command runs)

    group = typer.main.get_command(full.build())
    assert isinstance(group, TyperGroup)
    return group


@cache
def index() -> dict[str, str]:
    entries: dict[str, str] = json.loads(INDEX.read_text(encoding="utf-8"))
    return entries


def build_index() -> dict[str, str]:
    """Each command's name and help text, from the real commands."""
    group = full_group()
    ctx = _click.Context(group)
    out = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            out[name] = command.help or command.short_help or ""
    return out


class LazyGroup(TyperGroup):
    """The root group: lists commands from the index, resolves them from ``cli.full``."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(index())

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        text = index().get(cmd_name)
        if text is None:
            return full_group().get_command(ctx, cmd_name)  # not listed: ask the real set
        return TyperCommand(cmd_name, help=text)  # a name and help, for the list only

    def resolve_command(self, ctx: _click.Context, args: list[str]
                        ) -> tuple[str | None, _click.Command | None, list[str]]:
        return full_group().resolve_command(ctx, args)


def main() -> None:
    INDEX.write_text(json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    print(f"wrote {INDEX}")


if __name__ == "__main__":
    main()
