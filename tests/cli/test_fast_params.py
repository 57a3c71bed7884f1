"""Plain parameters skip Typer's Pydantic coercion (cli.fastparams) with the same result,
and the everyday commands load neither Pydantic nor the node's stack (cli.lazy)."""

from __future__ import annotations

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
PROBE = """
import sys
from cli.main import main
sys.argv = ["passport", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    code = e.code
print("\\nMODULES " + " ".join(sorted({m.split(".")[0] for m in sys.modules})))
print("EXIT", code)
"""


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
