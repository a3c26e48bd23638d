"""``grouprules explain``: the groups a rule file produces for a network."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._quoting import quoted
from ..errors import GroupRulesError
from ..loading import load_rules
from ..matching import RuleSet, describe_anchoring
from ..plan import Plan
from ._evaluate import RULES_HELP, add_decay_arguments, learning_rate, plan_with_options
from ._inputs import add_input_arguments, read_records
from ._plot import PlotError, plot_plan
from ._table import render_table

__all__ = [
    "add_parser",
    "main",
    "render_json",
    "render_parameters",
    "render_rules",
    "render_text",
]

#: Version of the JSON document ``explain --format json`` prints.
JSON_FORMAT_VERSION = 1


def add_parser(subparsers: Any) -> None:
    """Register the ``explain`` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help="show the groups a rule file produces for a network",
        description="Evaluate RULES against a network and print one row per optimizer group.",
        epilog="Exit codes: 0 the plan was made (warnings go to stderr), 1 the rule file, the "
        "input or the grouping has a problem, or the plot cannot be drawn, 2 usage error.",
    )
    parser.add_argument("rules", metavar="RULES", help=RULES_HELP)
    add_input_arguments(parser)
    add_decay_arguments(parser)
    parser.add_argument(
        "--lr",
        type=learning_rate,
        metavar="Z",
        help="base learning rate, a finite number >= 0; adds each group's lr "
        "(base x lr_scale x lr_mult) to the output",
    )
    parser.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="output format (default: table); json is one document with every group, "
        "parameter and rule (see docs/cli.md)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list every parameter with the rule that set its layer id and the setting "
        "that decided its weight decay, and each rule's match count (table format)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw lr_scale and the number of tensors by layer id to a PNG file "
        "(needs matplotlib: pip install 'grouprules[plot]')",
    )
    parser.set_defaults(handler=main)


def _float(value: float) -> str:
    return f"{value:.6g}"


def render_text(plan: Plan, base_lr: float | None = None) -> str:
    """Render a plan as a table with one row per group and a summary."""
    headers = ["group", "layer_id", "lr_scale"]
    if base_lr is not None:
        headers.append("lr")
    headers += ["weight_decay", "tensors", "elements"]
    rows = []
    for group in plan.groups:
        row = [group.name, str(group.layer_id), _float(group.lr_factor)]
        if base_lr is not None:
            row.append(_float(base_lr * group.lr_factor))
        row += [_float(group.weight_decay), str(len(group.params)), f"{group.numel:,}"]
        rows.append(row)
    right = [False] + [True] * (len(headers) - 1)

    lines = [
        f"rules: {plan.source}  (num_layers {plan.num_layers}, head id {plan.head_id}, "
        f"layer_decay {_float(plan.layer_decay)}, weight_decay {_float(plan.weight_decay)})",
        f"matching: {describe_anchoring()}; first match wins",
        "",
        render_table(headers, rows, right),
        "",
        plan.summary(base_lr),
    ]
    return "\n".join(lines)


def _rule_rows(rules: RuleSet, plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "index": rule.index,
            "name": rule.label,
            "pattern": rule.pattern,
            "layer": rules.spec.rules[rule.index].layer,
            "matches": plan.rule_matches[rule.index],
        }
        for rule in rules.rules
    ]


def render_rules(rules: RuleSet, plan: Plan) -> str:
    """Render one row per rule: its pattern, its layer as written and its match count."""
    rows = [
        [row["name"], quoted(row["pattern"]), str(row["layer"]), str(row["matches"])]
        for row in _rule_rows(rules, plan)
    ]
    return render_table(["rule", "pattern", "layer", "matches"], rows, [False, False, False, True])


def render_parameters(plan: Plan) -> str:
    """Render one row per grouped parameter, then one line per skipped parameter."""
    rows = [
        [
            item.name,
            "x".join(str(size) for size in item.shape) or "scalar",
            str(item.layer_id),
            _float(item.lr_scale * item.lr_mult),
            _float(item.weight_decay),
            item.group,
            item.layer_rule,
            item.decay_rule,
        ]
        for item in plan.assignments
    ]
    headers = [
        "parameter",
        "shape",
        "layer_id",
        "lr_scale",
        "weight_decay",
        "group",
        "layer set by",
        "decay set by",
    ]
    right = [False, False, True, True, True, False, False, False]
    lines = [render_table(headers, rows, right)]
    for item in plan.skipped:
        detail = f"shared with {item.shared_with}" if item.shared_with else item.reason
        lines.append(f"skipped: {item.name} ({detail})")
    return "\n".join(lines)


def render_json(plan: Plan, base_lr: float | None = None, rules: RuleSet | None = None) -> str:
    """Render a plan as one JSON document (format version :data:`JSON_FORMAT_VERSION`).

    With ``rules``, the document also lists each rule with its match count.
    """
    data = plan.to_dict()
    smallest, largest = plan.lr_range()
    document: dict[str, Any] = {
        "format_version": JSON_FORMAT_VERSION,
        "anchoring": describe_anchoring(),
        "base_lr": base_lr,
        "lr_range": {
            "smallest": {"layer_id": smallest.layer_id, "lr_factor": smallest.lr_factor},
            "largest": {"layer_id": largest.layer_id, "lr_factor": largest.lr_factor},
        },
        **data,
    }
    if base_lr is not None:
        for group in document["groups"]:
            group["lr"] = base_lr * group["lr_scale"] * group["lr_mult"]
    if rules is not None:
        document["rules"] = _rule_rows(rules, plan)
    return json.dumps(document, indent=2)


def main(args: argparse.Namespace) -> int:
    """Run ``explain`` and return the exit code."""
    try:
        rules = load_rules(args.rules)
        records = read_records(args)
        plan = plan_with_options(rules, records, args)
    except GroupRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.format == "json":
        print(render_json(plan, args.lr, rules))
    else:
        print(render_text(plan, args.lr))
        if args.verbose:
            print()
            print(render_rules(rules, plan))
            print()
            print(render_parameters(plan))
    for finding in plan.findings:
        print(finding.format(), file=sys.stderr)

    if args.plot:
        try:
            plot_plan(plan, args.plot)
        except PlotError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
