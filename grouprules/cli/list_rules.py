"""``grouprules list-rules``: the bundled rule packs, with their architecture and file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._quoting import quoted
from ..errors import GroupRulesError
from ..loading import load_rules
from ..packs import list_packs, rules_path
from ._table import render_table

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any) -> None:
    """Register the ``list-rules`` subcommand."""
    parser = subparsers.add_parser(
        "list-rules",
        help="list the bundled rule packs",
        description="List the rule packs bundled with grouprules: the name to pass "
        "wherever a rule file is expected, the architecture and the file.",
    )
    parser.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="output format (default: table)",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run ``list-rules`` and return the exit code.

    Every pack is loaded, so a pack that no longer validates is reported on
    stderr and makes the exit code 1; the other packs are still listed.
    """
    entries: list[dict[str, str]] = []
    failed = False
    for name in list_packs():
        path = rules_path(name)
        try:
            spec = load_rules(path).spec
        except GroupRulesError as exc:
            print(f"error: bundled rule pack {quoted(name)} is invalid: {exc}", file=sys.stderr)
            failed = True
            continue
        entries.append(
            {
                "name": name,
                "architecture": spec.architecture,
                "naming": spec.naming,
                "file": str(path),
            }
        )

    if args.format == "json":
        print(json.dumps(entries, indent=2))
    else:
        rows = [[entry["name"], entry["architecture"], entry["file"]] for entry in entries]
        print(render_table(["name", "architecture", "file"], rows, [False, False, False]))
    return 1 if failed else 0
