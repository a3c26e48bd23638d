"""``grouprules diff``: compare what two rule files do to one network."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import __version__
from ..errors import GroupRulesError
from ..lockfile import compare_locks, lock_from_plan
from ._changes import render_diff
from ._evaluate import PACK_NAMES_HELP, add_decay_arguments, add_format_argument, evaluate
from ._inputs import add_input_arguments, read_records

__all__ = ["JSON_FORMAT_VERSION", "add_parser", "main"]

#: Version of the JSON document ``diff --format json`` prints.
JSON_FORMAT_VERSION = 1


def add_parser(subparsers: Any) -> None:
    """Register the ``diff`` subcommand."""
    parser = subparsers.add_parser(
        "diff",
        help="compare the groupings two rule files give one network",
        description="Evaluate OLD and NEW against the same network and list every parameter "
        "whose layer_id, lr_scale, lr_mult, weight_decay or group differs.",
        epilog="Exit codes: 0 the groupings are the same, 1 they differ or a rule file or "
        "the input has a problem, 2 usage error.",
    )
    parser.add_argument(
        "old", metavar="OLD", help=f"the rule file to compare from, {PACK_NAMES_HELP}"
    )
    parser.add_argument(
        "new", metavar="NEW", help=f"the rule file to compare to, {PACK_NAMES_HELP}"
    )
    add_input_arguments(parser)
    add_decay_arguments(parser)
    add_format_argument(parser, ("table", "json"))
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run ``diff`` and return the exit code."""
    try:
        records = read_records(args)
        _, old_plan = evaluate(args.old, records, args)
        _, new_plan = evaluate(args.new, records, args)
    except GroupRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    old = lock_from_plan(old_plan, args.old, __version__)
    new = lock_from_plan(new_plan, args.new, __version__)
    diff = compare_locks(old, new)
    if args.format == "json":
        document = {
            "format_version": JSON_FORMAT_VERSION,
            "command": "diff",
            "same": diff.same,
            "old": {"rules": args.old, "fingerprint": old.fingerprint},
            "new": {"rules": args.new, "fingerprint": new.fingerprint},
            "diff": diff.to_dict(),
        }
        print(json.dumps(document, indent=2))
    elif diff.same:
        print(
            f"{args.old} and {args.new} give the same grouping of {len(new.parameters)} "
            f"parameters ({new.fingerprint})"
        )
    else:
        print(
            render_diff(diff, f"{args.old} ({old.fingerprint})", f"{args.new} ({new.fingerprint})")
        )
    return 0 if diff.same else 1
