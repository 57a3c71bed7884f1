"""Plain parameters skip Typer's Pydantic coercion (cli.fastparams) with the same result,
and the everyday commands load neither Pydantic nor the node's stack (cli.lazy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer import _click, _coercion
from typer.core import TyperGroup

from cli import fastparams
from cli.lazy import build_module_index, full_group, module_index
from tests.cli.support import PROBE

ROOT = Path(__file__).resolve().parents[2]
SAMPLES: dict[type, list[Any]] = {
    str: ["abc", " spaced ", "", "did:key:z6Mk", "ünï"],
    int: ["12", " 7 ", "-3", "0", "x", "1.5", "", "1_000", "1__0", "+3", "1.00", "1.", "1e3",
          "0x10", "007", "\u0663"],
    bool: ["true", "False", "1", "0", "yes", "NO", "on", "off", "t", "n", "maybe", "", " ",
           " true ", "2"],
    Path: ["/tmp/x", "rel/p", "~/w", ".", ""],
}
STACK = ("pydantic", "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "web3",
         "rich", "numpy")


def parameters(group: TyperGroup, ctx: _click.Context) -> Iterator[tuple[_click.Context, Any]]:
    """Every parameter of every command, with a context of its command."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        sub = _click.Context(command, parent=ctx, info_name=name)
        if isinstance(command, TyperGroup):
            yield from parameters(command, sub)
        for param in command.params:
            yield sub, param


def outcome(runtime: _coercion.RuntimeParam, value: Any, param: Any,
            ctx: _click.Context) -> Any:
    try:
        return ("value", runtime.coerce(value, param=param, ctx=ctx))
    except typer.BadParameter:
        return ("refused",)


def test_every_plain_parameter_coerces_as_typer_would() -> None:
    group = full_group()
    checked = 0
    for ctx, param in parameters(group, _click.Context(group)):
        desc = getattr(param, "type_descriptor", None)
        if desc is None or desc.file_annotation is not None:
            continue
        target = fastparams.plain_target(desc.annotation, desc.parameter_info)
        if target is None:
            continue
        ours = fastparams.PlainRuntimeParam(parameter_info=desc.parameter_info,
                                            annotation=desc.annotation, target=target)
        theirs = _coercion.build_runtime_param(desc)  # Typer's own, through Pydantic
        for value in [None, *SAMPLES[target]]:
            assert outcome(ours, value, param, ctx) == outcome(theirs, value, param, ctx), (
                ctx.command_path, param.name, value)
        checked += 1
    assert checked > 100  # home, node, --json ... of every command


def test_a_constrained_parameter_keeps_typer_s_own_coercion() -> None:
    constrained = typer.Option(min=1)
    assert fastparams.plain_target(int, constrained) is None
    assert fastparams.plain_target(int | None, typer.Option()) is int
    assert fastparams.plain_target(list[str], typer.Option()) is None


def test_the_command_module_index_matches_the_commands() -> None:
    assert module_index() == build_module_index(), (
        "commands changed: run 'python -m cli.lazy' to re-index")


def _tree(command: _click.Command) -> object:
    """A command's name with its sub-commands' (a group's), recursively."""
    if isinstance(command, TyperGroup):
        ctx = _click.Context(command)
        return {name: _tree(sub) for name in command.list_commands(ctx)
                if (sub := command.get_command(ctx, name)) is not None}
    return sorted(p.name or "" for p in command.params)  # lists: as JSON gives them back


_MODULE_TREES = """
import json, sys
from cli.lazy import module_group, module_index
from tests.cli.test_fast_params import _tree
from typer import _click
names = [n for n, m in module_index().items() if m == sys.argv[1]]
out = {}
for name in names:
    group = module_group(sys.argv[1], name)
    out[name] = _tree(group.get_command(_click.Context(group), name))
print(json.dumps(out))
"""


@pytest.mark.parametrize("module", sorted(set(module_index().values())))
def test_a_command_built_from_its_own_module_is_the_full_command(module: str) -> None:
    """What runs (the command's module alone, in a new process) has every sub-command and
    option of the whole CLI's: ``desk serve``, registered from another module, once went
    missing this way."""
    done = subprocess.run([sys.executable, "-c", _MODULE_TREES, module], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    alone = json.loads(done.stdout)
    full = full_group()
    ctx = _click.Context(full)
    want = {}
    for name in alone:
        command = full.get_command(ctx, name)
        assert command is not None
        want[name] = _tree(command)
    assert alone and alone == want


@pytest.mark.parametrize("args", [
    ("set", "city", "Utrecht"), ("show",), ("get", "city"),
    ("read", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "--fields", "city"),
    ("agent", "status")])
def test_the_everyday_commands_load_no_heavy_stack(args: tuple[str, ...],
                                                   tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASSPORT_HOME": str(tmp_path / "none"),
           "PASSPORT_PASSPHRASE": "unused passphrase"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert "EXIT" in done.stdout, done.stderr
    loaded = set(done.stdout.split("MODULES ")[1].split("\n")[0].split())
    assert not loaded & set(STACK), loaded & set(STACK)
    assert "wallet" in loaded  # the command ran (its parameters were parsed and coerced)
