"""``grouprules lock``: write the grouping a rule file gives a network to a lock file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import __version__
from ..errors import GroupRulesError
from ..lockfile import dumps_lock, lock_from_plan, write_lock
from ._evaluate import RULES_HELP, add_decay_arguments, evaluate
from ._inputs import add_input_arguments, read_records

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any) -> None:
    """Register the ``lock`` subcommand."""
    parser = subparsers.add_parser(
        "lock",
        help="write the resolved grouping to a lock file, for `grouprules check`",
        description="Evaluate RULES against a network and write, for every parameter, its "
        "layer_id, lr_scale, lr_mult, weight_decay and group, with a sha256 fingerprint of "
        "the whole grouping. Commit the file; `grouprules check` then fails when a model "
        "or rule change moves a parameter.",
        epilog="Exit codes: 0 written, 1 the rule file, the input or the grouping has a "
        "problem, 2 usage error.",
    )
    parser.add_argument("rules", metavar="RULES", help=RULES_HELP)
    add_input_arguments(parser)
    add_decay_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="lock file to write, such as grouprules.lock (default: print to stdout)",
    )
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run ``lock`` and return the exit code."""
    try:
        records = read_records(args)
        _, plan = evaluate(args.rules, records, args)
        lock = lock_from_plan(plan, args.rules, __version__)
        if args.output:
            write_lock(lock, args.output)
    except GroupRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    for finding in plan.findings:
        print(finding.format(), file=sys.stderr)
    if args.output:
        print(
            f"wrote {args.output}: {len(plan.assignments)} parameters in {len(plan.groups)} "
            f"groups, {len(plan.skipped)} skipped, fingerprint {lock.fingerprint}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(dumps_lock(lock))
    return 0
