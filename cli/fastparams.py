"""Typer without Pydantic for plain parameters: a command starts ~200 ms sooner.

Typer 0.29 coerces every parameter through a Pydantic ``TypeAdapter``, so the first command
line parsed imports Pydantic and builds a schema per parameter: on this project's 2-core
machine that was most of a ``passport set`` (docs/benchmarks.md, "CLI start-up").  The
CLI's parameters are almost all plain (``str``, ``int``, ``bool``, ``Path``, optional or
not), which need no schema: the command line already gives a ``str`` (or a flag's ``bool``).
``install`` wraps Typer's ``build_runtime_param`` so those get a coercion of their own, the
same result as Typer's (``tests/cli/test_fast_params.py`` compares them on every parameter
of every command); anything else (constraints, choices, files, lists, enums) still goes to
Typer's own.  It installs only on the Typer it was checked against, else does nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import typer.core
from typer import _click, _coercion
from typer.models import ParameterInfo

CHECKED_ON = "0.29."
PLAIN = {str: str, int: int, bool: bool, Path: Path, str | None: str, int | None: int,
         bool | None: bool, Path | None: Path}
# What Typer (Pydantic, lax mode) takes for a bool, in any case, blanks around ignored; and
# for an int: ASCII digits, single underscores between them, a zero fraction.
BOOL_WORDS = {**dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True),
              **dict.fromkeys(("0", "false", "f", "no", "n", "off", ""), False)}
INT_TEXT = re.compile(r"([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?")
# ParameterInfo attributes that change coercion, at their defaults: a parameter that sets any
# of them otherwise goes to Typer's own coercion.
DEFAULTS: dict[str, Any] = {
    "min": None, "max": None, "clamp": False, "exists": False, "file_okay": True,
    "dir_okay": True, "writable": False, "readable": True, "resolve_path": False,
    "allow_dash": False, "path_type": None, "parser": None, "click_type": None,
    "formats": None, "case_sensitive": True, "mode": None, "encoding": None,
    "errors": "strict", "lazy": None, "atomic": False}


@dataclass(frozen=True)
class PlainRuntimeParam(_coercion.RuntimeParam):
    """``str``, ``int``, ``bool`` or ``Path`` from the command line's text, as Typer would
    make it."""

    target: type

    def _coerce_value(self, value: Any, param: Any, ctx: _click.Context) -> Any:
        if isinstance(value, self.target):
            return value
        if not isinstance(value, str):
            raise typer.BadParameter(f"Value {value!r} is not a valid {self.target.__name__}.",
                                     ctx=ctx, param=param)
        if self.target is bool:
            word = BOOL_WORDS.get(value.strip().lower())
            if word is None:
                raise typer.BadParameter(f"{value!r} is not a valid boolean.", ctx=ctx,
                                         param=param)
            return word
        if self.target is int:
            match = INT_TEXT.fullmatch(value.strip())
            if match is None:
                raise typer.BadParameter(f"{value!r} is not a valid integer.", ctx=ctx,
                                         param=param)
            return int(match.group(1))
        return self.target(value)


def plain_target(annotation: Any, info: ParameterInfo) -> type | None:
    """The plain type of a parameter, or None when it needs Typer's own coercion."""
    try:
        target = PLAIN.get(annotation)
    except TypeError:  # an unhashable annotation: not a plain one
        return None
    if target is None or any(getattr(info, name, default) != default
                             for name, default in DEFAULTS.items()):
        return None
    return target


def install() -> None:
    """Route plain parameters around Pydantic (once; only on the Typer checked against)."""
    names = vars(typer.core)  # Typer's name for it there, looked up when a command runs
    original = names.get("build_runtime_param")
    if original is None:
        return
    if not typer.__version__.startswith(CHECKED_ON) or getattr(original, "plain", False):
        return

    def build_runtime_param(descriptor: _coercion.TypeDescriptor) -> _coercion.RuntimeParam:
        target = None if descriptor.file_annotation is not None else plain_target(
            descriptor.annotation, descriptor.parameter_info)
        if target is None:
            built: _coercion.RuntimeParam = original(descriptor)
            return built
        return PlainRuntimeParam(parameter_info=descriptor.parameter_info,
                                 annotation=descriptor.annotation, target=target)

    build_runtime_param.plain = True  # type: ignore[attr-defined]
    names["build_runtime_param"] = build_runtime_param
