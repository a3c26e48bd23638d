"""``grouprules explain``: the groups a rule file produces for a network."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..engine import make_plan
from ..errors import GroupRulesError
from ..loading import load_rules
from ..matching import describe_anchoring
from ..plan import Plan
from ._inputs import add_input_arguments, read_records
from ._table import render_table

__all__ = ["add_parser", "main", "render_json", "render_text"]

#: Version of the JSON document ``explain --format json`` prints.
JSON_FORMAT_VERSION = 1


def add_parser(subparsers: Any) -> None:
    """Register the ``explain`` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help="show the groups a rule file produces for a network",
        description="Evaluate RULES against a network and print one row per optimizer group.",
    )
    parser.add_argument("rules", metavar="RULES", help="rule file (.yaml, .yml or .toml)")
    add_input_arguments(parser)
    parser.add_argument(
        "--layer-decay",
        type=float,
        metavar="X",
        help="per-layer lr factor in (0, 1]; overrides the file's layer_decay",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        metavar="Y",
        help="weight decay of decayed groups (coefficient, >= 0); overrides the file's",
    )
    parser.add_argument(
        "--lr",
        type=float,
        metavar="Z",
        help="base learning rate; adds each group's lr (base x lr_scale x lr_mult) to the output",
    )
    parser.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="output format (default: table)",
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


def render_json(plan: Plan, base_lr: float | None = None) -> str:
    """Render a plan as one JSON document (format version :data:`JSON_FORMAT_VERSION`)."""
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
    return json.dumps(document, indent=2)


def main(args: argparse.Namespace) -> int:
    """Run ``explain`` and return the exit code."""
    try:
        rules = load_rules(args.rules)
        records = read_records(args)
        plan = make_plan(
            rules, records, layer_decay=args.layer_decay, weight_decay=args.weight_decay
        )
    except GroupRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.format == "json":
        print(render_json(plan, args.lr))
    else:
        print(render_text(plan, args.lr))
    for finding in plan.findings:
        print(finding.format(), file=sys.stderr)
    return 0
