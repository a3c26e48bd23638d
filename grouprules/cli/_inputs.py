"""Network inputs shared by the subcommands: --model, --checkpoint and --params."""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import sys
from typing import Any

from .._quoting import quoted
from ..dump import read_dump
from ..errors import GroupRulesError
from ..records import ParamRecord

__all__ = ["InputError", "add_input_arguments", "load_network", "read_records"]


class InputError(GroupRulesError):
    """A --model, --checkpoint or --params input could not be used."""


def add_input_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add the mutually exclusive network inputs to ``parser``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--model",
        metavar="MODULE:FACTORY[:ARGS]",
        help="import MODULE (from the current folder first), call FACTORY(ARGS) and read the "
        "live network's parameters; ARGS is a comma-separated list of Python literals or "
        "key=literal pairs, such as examples.convnext:convnext_small_cpu:num_classes=10",
    )
    group.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="read parameter names and shapes from a MindSpore .ckpt file (no owning cell "
        "types; optimizer state is left out)",
    )
    group.add_argument(
        "--params",
        metavar="DUMP",
        help="read a parameter dump: MindSpore 'Parameter (name=..., shape=...)' lines or "
        "plain 'name shape' lines",
    )


def _parse_call_arguments(text: str, spec: str) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if not text:
        return args, kwargs
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        assert isinstance(call, ast.Call)
        args = [ast.literal_eval(node) for node in call.args]
        kwargs = {str(kw.arg): ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError, AssertionError):
        raise InputError(
            f"--model {spec}: cannot read the factory arguments {quoted(text)}\n"
            "  expected: comma-separated Python literals or key=literal pairs, such as "
            "num_classes=10,image_size=32"
        ) from None
    return args, kwargs


def load_network(spec: str) -> Any:
    """Import and call the factory named by a ``MODULE:FACTORY[:ARGS]`` spec.

    Raises:
        InputError: The spec is malformed, the import fails or the factory raises.
    """
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise InputError(
            f"--model {quoted(spec)} is not MODULE:FACTORY[:ARGS]\n"
            "  Hint: for example --model examples.convnext:convnext_base"
        )
    module_name, factory_name = parts[0], parts[1]
    args, kwargs = _parse_call_arguments(parts[2] if len(parts) == 3 else "", spec)

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"--model {spec}: cannot import {quoted(module_name)}: {exc}\n"
            "  Hint: run from the folder that contains the module, or install its package."
        ) from None
    except Exception as exc:  # user code may raise anything while importing
        raise InputError(
            f"--model {spec}: importing {quoted(module_name)} failed: {type(exc).__name__}: {exc}"
        ) from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise InputError(f"--model {spec}: {module_name} has no callable {quoted(factory_name)}")
    try:
        return factory(*args, **kwargs)
    except Exception as exc:  # user code may raise anything
        raise InputError(
            f"--model {spec}: {factory_name}() raised {type(exc).__name__}: {exc}\n"
            "  Hint: check the factory arguments after the second colon."
        ) from exc


def read_records(args: argparse.Namespace) -> list[ParamRecord]:
    """Return the parameter records of the input that ``args`` names.

    Raises:
        InputError: The input cannot be read.
        GroupRulesError: A dump or checkpoint line cannot be parsed.
    """
    if args.params:
        return read_dump(args.params)

    try:
        from .. import mindspore as adapter
    except ImportError as exc:
        raise InputError(f"{exc}") from None
    if args.checkpoint:
        return adapter.records_from_checkpoint(args.checkpoint)
    return adapter.records_from_cell(load_network(args.model))
