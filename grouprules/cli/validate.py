"""``grouprules validate``: check rule files, statically or against a network."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

from ..engine import make_plan
from ..errors import ExpectationError, GroupRulesError, RuleFileError
from ..lint import lint_rules
from ..loading import load_rules
from ..matching import RuleSet
from ..records import ParamRecord
from ._evaluate import add_decay_arguments, add_format_argument
from ._inputs import add_input_arguments, read_records
from ._report import Diagnostic, from_error, from_finding, from_problem, render_github

__all__ = ["JSON_FORMAT_VERSION", "add_parser", "main"]

#: Version of the JSON document ``validate --format json`` prints.
JSON_FORMAT_VERSION = 1

_NOT_EVALUATED = "static checks only: the network input could not be read"


def add_parser(subparsers: Any) -> None:
    """Register the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check rule files: schema, likely mistakes and, with a network, the grouping",
        description="Check every FILE and report every problem in each. Schema errors fail "
        "the run. Likely mistakes are warnings: a pattern that cannot match, a shadowed rule, "
        "a layer expression that leaves 0..num_layers + 1, a glob-looking pattern and a "
        "bare-word no-decay pattern. With --model, --checkpoint or --params, each file is also "
        "evaluated against that network. Unmatched parameters, a failed layer expression and a "
        "failed expect block are then errors, and unused rules, layer-id gaps and decayed 1-D "
        "or norm parameters are warnings.",
        epilog="Exit codes: 0 every file passed, 1 a file has an error (or a warning under "
        "--strict) or the input cannot be read, 2 usage error.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="rule files (.yaml, .yml or .toml) to check, or names of bundled packs (see "
        "`grouprules list-rules`)",
    )
    add_input_arguments(parser, required=False)
    add_decay_arguments(parser)
    parser.add_argument(
        "--strict", action="store_true", help="treat warnings as errors, so they fail the run"
    )
    add_format_argument(parser, ("table", "json", "github"))
    parser.set_defaults(handler=main)


@dataclass
class _FileReport:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for item in self.diagnostics if item.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for item in self.diagnostics if item.severity == "warning")


def _evaluate(
    rules: RuleSet, records: list[ParamRecord], args: argparse.Namespace
) -> list[Diagnostic]:
    overrides = {"layer_decay": args.layer_decay, "weight_decay": args.weight_decay}
    try:
        plan = make_plan(rules, records, check_expect=False, **overrides)
    except GroupRulesError as exc:
        return from_error(exc, rules)
    found = [from_finding(finding, rules, strict=args.strict) for finding in plan.findings]
    if rules.spec.expect is not None and not args.no_expect:
        try:
            make_plan(rules, records, check_expect=True, **overrides)
        except ExpectationError as exc:
            found.extend(from_error(exc, rules))
    return found


def _check_file(
    path: str, records: list[ParamRecord] | None, args: argparse.Namespace
) -> _FileReport:
    report = _FileReport(path)
    try:
        rules = load_rules(path)
    except RuleFileError as exc:
        report.diagnostics = [from_problem(problem) for problem in exc.problems]
        return report
    report.diagnostics = [
        from_finding(finding, rules, strict=args.strict) for finding in lint_rules(rules)
    ]
    if records is not None:
        report.diagnostics.extend(_evaluate(rules, records, args))
    return report


def _input_label(args: argparse.Namespace) -> str | None:
    for option in ("model", "checkpoint", "params"):
        value = getattr(args, option, None)
        if value:
            return f"--{option} {value}"
    return None


def _counts(reports: list[_FileReport], general: list[Diagnostic]) -> dict[str, int]:
    return {
        "files": len(reports),
        "failed": sum(1 for report in reports if report.errors),
        "errors": sum(report.errors for report in reports) + len(general),
        "warnings": sum(report.warnings for report in reports),
        "input_errors": len(general),
    }


def _summary(counts: dict[str, int]) -> str:
    head = f"{counts['files']} file(s) checked"
    if not counts["errors"] and not counts["warnings"]:
        return f"{head}: no problems"
    # An unreadable input fails the run without failing a file, so it is named here.
    unreadable = ", and the network input could not be read" if counts["input_errors"] else ""
    return (
        f"{head}, {counts['failed']} failed{unreadable}: {counts['errors']} error(s), "
        f"{counts['warnings']} warning(s)"
    )


def _render_table(reports: list[_FileReport], general: list[Diagnostic]) -> str:
    blocks = [item.format() for item in general]
    clean = f"ok ({_NOT_EVALUATED})" if general else "ok"
    for report in reports:
        if not report.diagnostics:
            blocks.append(f"{report.path}: {clean}")
            continue
        blocks.extend(item.format() for item in report.diagnostics)
    blocks.append("")
    blocks.append(_summary(_counts(reports, general)))
    return "\n".join(blocks)


def _render_json(
    reports: list[_FileReport], general: list[Diagnostic], args: argparse.Namespace
) -> str:
    counts = _counts(reports, general)
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "command": "validate",
        "ok": counts["errors"] == 0,
        "strict": args.strict,
        "input": _input_label(args),
        "summary": counts,
        "diagnostics": [item.to_dict() for item in general],
        "files": [
            {
                "path": report.path,
                "ok": report.errors == 0,
                "errors": report.errors,
                "warnings": report.warnings,
                "diagnostics": [item.to_dict() for item in report.diagnostics],
            }
            for report in reports
        ],
    }
    return json.dumps(document, indent=2)


def main(args: argparse.Namespace) -> int:
    """Run ``validate`` and return the exit code."""
    records: list[ParamRecord] | None = None
    general: list[Diagnostic] = []
    if _input_label(args) is not None:
        try:
            records = read_records(args)
        except GroupRulesError as exc:
            general = from_error(exc)

    reports = [_check_file(path, records, args) for path in args.files]

    if args.format == "json":
        print(_render_json(reports, general, args))
    elif args.format == "github":
        diagnostics = general + [item for report in reports for item in report.diagnostics]
        lines = [render_github(diagnostics)] if diagnostics else []
        lines.append(f"grouprules validate: {_summary(_counts(reports, general))}")
        print("\n".join(lines))
    else:
        print(_render_table(reports, general))
    failed = bool(general) or any(report.errors for report in reports)
    return 1 if failed else 0
