"""``grouprules schema``: print the rule file's JSON Schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..jsonschema import dumps_rule_file_schema

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any) -> None:
    """Register the ``schema`` subcommand."""
    parser = subparsers.add_parser(
        "schema",
        help="print the rule file's JSON Schema, for editors and other validators",
        description="Print the JSON Schema (draft 2020-12) of a rule file, generated from the "
        "pydantic models. docs/rule-file.schema.json is this output; a YAML rule file uses "
        "it with a first line '# yaml-language-server: $schema=PATH'.",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the schema to FILE instead of stdout"
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run ``schema`` and return the exit code."""
    text = dumps_rule_file_schema()
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        print(
            f"error: {args.output}: cannot write the schema: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    return 0
