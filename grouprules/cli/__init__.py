"""The ``grouprules`` command line.

Exit codes: 0 on success, 1 when a rule file, an input or the grouping has a
problem (or, for checks, findings), 2 on a usage error such as an unknown option.
Each subcommand lives in its own module and provides ``add_parser`` and ``main``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from . import check, diff, explain, list_rules, lock, schema, validate

__all__ = ["main", "run"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

_COMMANDS = (explain, list_rules, validate, lock, check, diff, schema)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grouprules",
        description="Turn a rule file into MindSpore optimizer parameter groups "
        "(layer-wise lr decay and weight-decay split), and check it.",
        epilog="Exit codes: 0 success, 1 a rule file, input or grouping problem (for validate, "
        "check and diff also: a finding or a difference), 2 usage error. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"grouprules {__version__}")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the grouprules logger on stderr (default: WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` and return the exit code.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        0 on success, 1 on rule, input or grouping problems, 2 on usage errors.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("grouprules")
    logger.addHandler(handler)
    logger.setLevel(args.log_level)
    try:
        return int(args.handler(args))
    finally:
        logger.removeHandler(handler)


def run() -> NoReturn:
    """Entry point of the ``grouprules`` script."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of stdout went away (`grouprules explain ... | head`); stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_FINDINGS
    sys.exit(code)
