"""``passport --help`` in a blink: the top-level command list comes from a small index
(``help_index.json``: each command's name and help text), so listing the commands imports
none of them (no wallet, no HTTP client, no web stack).  A command that runs, or whose own
``--help`` is asked for, loads only the module that defines it (``command_modules.json``:
command -> module); a name in neither index loads the full command set (``cli.full``).

``tests/cli/test_lazy_help.py`` and ``tests/cli/test_lazy_commands.py`` fail when the indexes
no longer match the commands; then run ``python -m cli.lazy`` to write them again.
"""

from __future__ import annotations

import json
from functools import cache

import typer.main
from typer import _click  # Typer 0.29 vendors click: its Context and Command types
from typer.core import TyperCommand, TyperGroup

from cli.quickhelp import INDEX

MODULE_INDEX = INDEX.with_name("command_modules.json")


@cache
def full_group() -> TyperGroup:
    from cli import full  # noqa: PLC0415  (the whole CLI: only when a command runs)

    group = typer.main.get_command(full.build())
    assert isinstance(group, TyperGroup)
    return group


@cache
def module_group(module: str, command: str | None = None) -> TyperGroup:
    """The commands of one module only (``passport set`` loads ``cli.wallet_cmds`` alone);
    with ``command``, only that one of its top-level commands is built (Typer builds each
    command's parameters from its signature: the others need not be)."""
    from cli import full  # noqa: PLC0415

    app = full.build([module])
    if command is not None:
        app.registered_commands = [
            c for c in app.registered_commands if command == (c.name or typer.main.get_command_name(
                c.callback.__name__ if c.callback is not None else ""))]
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


@cache
def module_index() -> dict[str, str]:
    entries: dict[str, str] = json.loads(MODULE_INDEX.read_text(encoding="utf-8"))
    return entries


def build_module_index() -> dict[str, str]:
    """Each command's name and the module that defines it, from the real commands."""
    from cli import full  # noqa: PLC0415

    out = {}
    for module in full.MODULES:
        group = module_group(module)
        for name in group.list_commands(_click.Context(group)):
            out[name] = module
    return out


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
        module = module_index().get(args[0]) if args else None
        group = full_group() if module is None else module_group(module, args[0])
        return group.resolve_command(ctx, args)


def main() -> None:
    INDEX.write_text(json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    MODULE_INDEX.write_text(json.dumps(build_module_index(), indent=1) + "\n",
                            encoding="utf-8")
    print(f"wrote {INDEX} and {MODULE_INDEX}")


if __name__ == "__main__":
    main()
