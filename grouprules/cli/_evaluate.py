"""Options and steps shared by the commands that evaluate rules against a network."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from .._quoting import quoted
from ..engine import make_plan
from ..loading import load_rules
from ..matching import RuleSet
from ..plan import Plan
from ..records import ParamRecord

__all__ = [
    "PACK_NAMES_HELP",
    "RULES_HELP",
    "add_decay_arguments",
    "add_format_argument",
    "evaluate",
    "plan_with_options",
    "layer_decay",
    "learning_rate",
    "weight_decay",
]


#: Help text that ends each rule file argument's help, since every command also reads packs.
PACK_NAMES_HELP = "or the name of a bundled pack (see `grouprules list-rules`)"
#: Help text of a ``RULES`` argument.
RULES_HELP = f"rule file (.yaml, .yml or .toml), {PACK_NAMES_HELP}"


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a number") from None


def layer_decay(text: str) -> float:
    """Read a ``--layer-decay`` value: a number in (0, 1]."""
    value = _number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1]")
    return value


def _finite_non_negative(text: str) -> float:
    value = _number(text)
    if not math.isfinite(value) or value < 0.0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def weight_decay(text: str) -> float:
    """Read a ``--weight-decay`` value: a finite number >= 0."""
    return _finite_non_negative(text)


def learning_rate(text: str) -> float:
    """Read a ``--lr`` value: a finite number >= 0, as MindSpore optimizers accept."""
    return _finite_non_negative(text)


def add_decay_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--layer-decay`` and ``--weight-decay``, which override the rule file's."""
    parser.add_argument(
        "--layer-decay",
        type=layer_decay,
        metavar="X",
        help="per-layer lr factor in (0, 1]: layer i gets X ** (num_layers + 1 - i) of the "
        "base lr; overrides the rule file's layer_decay",
    )
    parser.add_argument(
        "--weight-decay",
        type=weight_decay,
        metavar="Y",
        help="weight decay coefficient (>= 0) of decayed parameters; overrides the rule "
        "file's weight_decay",
    )
    parser.add_argument(
        "--no-expect",
        action="store_true",
        help="skip the rule file's expect block, for a network other than the one the "
        "block describes (such as a smaller configuration of the same architecture)",
    )


def add_format_argument(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    """Add ``--format`` with ``choices``, the first being the default."""
    descriptions = {
        "table": "text for a terminal",
        "json": "one JSON document (see docs/cli.md)",
        "github": "GitHub Actions ::error and ::warning annotations",
    }
    listed = "; ".join(f"{choice}: {descriptions[choice]}" for choice in choices)
    parser.add_argument(
        "--format",
        choices=list(choices),
        default=choices[0],
        help=f"output format (default: {choices[0]}); {listed}",
    )


def evaluate(
    rules_path: str, records: list[ParamRecord], args: argparse.Namespace
) -> tuple[RuleSet, Plan]:
    """Load a rule file and make its plan for ``records``, checking the expect block.

    Raises:
        GroupRulesError: The rule file is invalid or the grouping fails.
    """
    rules = load_rules(rules_path)
    return rules, plan_with_options(rules, records, args)


def plan_with_options(rules: RuleSet, records: list[ParamRecord], args: argparse.Namespace) -> Plan:
    """Make the plan with the command's ``--layer-decay``, ``--weight-decay`` and ``--no-expect``.

    Raises:
        GroupRulesError: The grouping fails or misses the expect block.
    """
    return make_plan(
        rules,
        records,
        layer_decay=args.layer_decay,
        weight_decay=args.weight_decay,
        check_expect=not args.no_expect,
    )
