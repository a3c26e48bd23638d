"""``grouprules check``: fail when today's grouping differs from a lock file."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import GroupRulesError, RuleFileError
from ..loading import load_rules
from ..lockfile import Lock, LockFileError, compare_locks, lock_from_plan, read_lock
from ..matching import RuleSet
from ._changes import diff_annotations, render_diff
from ._evaluate import (
    RULES_HELP,
    add_decay_arguments,
    add_format_argument,
    plan_with_options,
)
from ._inputs import add_input_arguments, read_records
from ._report import Diagnostic, from_error, from_problem, render_github

__all__ = ["JSON_FORMAT_VERSION", "add_parser", "main"]

#: Version of the JSON document ``check --format json`` prints.
JSON_FORMAT_VERSION = 1


def add_parser(subparsers: Any) -> None:
    """Register the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="fail when the grouping differs from a lock file",
        description="Evaluate RULES against a network and compare every parameter's layer_id, "
        "lr_scale, lr_mult, weight_decay and group with the lock file that `grouprules lock` "
        "wrote. Prints the parameters that moved, appeared or disappeared.",
        epilog="Exit codes: 0 the grouping matches the lock file, 1 it differs or the rule "
        "file, the input or the lock file has a problem, 2 usage error.",
    )
    parser.add_argument("rules", metavar="RULES", help=RULES_HELP)
    add_input_arguments(parser)
    parser.add_argument(
        "--lock", required=True, metavar="FILE", help="lock file written by `grouprules lock`"
    )
    add_decay_arguments(parser)
    add_format_argument(parser, ("table", "json", "github"))
    parser.set_defaults(handler=main)


def _relock_command(args: argparse.Namespace) -> str:
    words = ["grouprules", "lock", args.rules]
    for option in ("model", "checkpoint", "params"):
        if getattr(args, option):
            words += [f"--{option}", getattr(args, option)]
    if args.layer_decay is not None:
        words += ["--layer-decay", str(args.layer_decay)]
    if args.weight_decay is not None:
        words += ["--weight-decay", str(args.weight_decay)]
    if args.no_expect:
        words.append("--no-expect")
    words += ["-o", args.lock]
    return " ".join(shlex.quote(word) for word in words)


def _current(args: argparse.Namespace) -> tuple[Lock | None, list[Diagnostic]]:
    rules: RuleSet | None = None
    try:
        rules = load_rules(args.rules)
        records = read_records(args)
        plan = plan_with_options(rules, records, args)
    except RuleFileError as exc:
        return None, [from_problem(problem) for problem in exc.problems]
    except GroupRulesError as exc:
        return None, from_error(exc, rules)
    return lock_from_plan(plan, args.rules, __version__), []


def _report_errors(diagnostics: list[Diagnostic], args: argparse.Namespace) -> None:
    verdict = (
        f"grouprules check: failed with {len(diagnostics)} error(s) before comparing the "
        f"grouping with {args.lock}"
    )
    if args.format == "github":
        print(render_github(diagnostics))
        print(verdict)
    elif args.format == "json":
        document = {
            "format_version": JSON_FORMAT_VERSION,
            "command": "check",
            "ok": False,
            "rules": args.rules,
            "lock": args.lock,
            "diagnostics": [item.to_dict() for item in diagnostics],
            "diff": None,
        }
        print(json.dumps(document, indent=2))
    else:
        for item in diagnostics:
            print(item.format(), file=sys.stderr)
        print(f"\n{verdict}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Run ``check`` and return the exit code."""
    try:
        locked = read_lock(args.lock)
    except LockFileError as exc:
        _report_errors(from_error(exc, code="invalid-lock-file"), args)
        return 1
    current, errors = _current(args)
    if current is None:
        _report_errors(errors, args)
        return 1

    diff = compare_locks(locked, current)
    old_label = f"{args.lock} (rules {locked.rules}, {locked.fingerprint})"
    new_label = f"{args.rules} ({current.fingerprint})"
    if args.format == "json":
        document = {
            "format_version": JSON_FORMAT_VERSION,
            "command": "check",
            "ok": diff.same,
            "rules": args.rules,
            "lock": args.lock,
            "fingerprint": {"locked": locked.fingerprint, "current": current.fingerprint},
            "diagnostics": [],
            "diff": diff.to_dict(),
        }
        print(json.dumps(document, indent=2))
    elif args.format == "github":
        lock_text = Path(args.lock).read_text(encoding="utf-8")
        lines = diff_annotations(diff, args.lock, lock_text)
        lines.append(_verdict(diff.same, args, len(current.parameters)))
        print("\n".join(lines))
    else:
        if not diff.same:
            print(render_diff(diff, old_label, new_label))
            print()
        print(_verdict(diff.same, args, len(current.parameters)))
    return 0 if diff.same else 1


def _verdict(same: bool, args: argparse.Namespace, parameters: int) -> str:
    if same:
        return f"grouprules check: the grouping of {parameters} parameters matches {args.lock}"
    return (
        f"grouprules check: the grouping differs from {args.lock}. If the change is intended, "
        f"write the lock file again: {_relock_command(args)}"
    )
