"""Diagnostics: errors and warnings about a rule file, and the ways to print them.

Every problem the CLI reports, whether a schema error, a static warning or an
evaluation failure, becomes one :class:`Diagnostic` with a code and, where
known, the file, line and column it is about. Three renderings exist: a
terminal table, JSON and GitHub workflow annotations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import regex

from .._pattern_analysis import glob_translation
from .._quoting import MAX_VALUE_CHARS, format_value, quoted
from ..errors import (
    MAX_LISTED_NAMES,
    ExpectationError,
    GroupRulesError,
    NoTrainableParametersError,
    Problem,
    RuleEvaluationError,
    UnmatchedParametersError,
)
from ..findings import Finding
from ..matching import RuleSet

__all__ = [
    "Diagnostic",
    "from_error",
    "from_finding",
    "from_problem",
    "github_annotation",
    "render_github",
    "render_table",
]

_GLOB_TRAIL = regex.compile(r"^(?:rules\[\d+\]\.pattern|no_weight_decay\.names\[\d+\])$")
_EXPECT_KEY = regex.compile(r"^(expect\.\w+) ")


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning, ready to print.

    Attributes:
        severity: ``error`` or ``warning``.
        code: Stable identifier, such as ``shadowed-rule`` or ``invalid-rule-file``.
        message: What is wrong, as a sentence.
        file: The file it is about, or ``None`` for a problem with the input network.
        line: 1-based line in ``file``, if known.
        column: 1-based column in ``file``, if known.
        trail: Key trail in the rule file, such as ``rules[3].pattern``.
        value: The offending value as YAML text, strings quoted as ``'blocks\\.'``, if any.
        expected: What a valid value looks like.
        hint: How to fix it.
        names: Parameter names involved.
        raw_value: The offending value as read from the rule file; JSON output shows it.
    """

    severity: str
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    trail: str = ""
    value: str | None = None
    expected: str | None = None
    hint: str | None = None
    names: tuple[str, ...] = ()
    raw_value: Any = None

    @property
    def location(self) -> str:
        """``file:line:column`` with the parts that are known, or ``grouprules``."""
        if self.file is None:
            return "grouprules"
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def detail_lines(self) -> list[str]:
        """Return the indented lines under the headline: value, expected, names, hint."""
        lines = []
        if self.value is not None:
            lines.append(f"  value: {self.value}")
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        for name in self.names[:MAX_LISTED_NAMES]:
            lines.append(f"  {name}")
        if len(self.names) > MAX_LISTED_NAMES:
            lines.append(f"  ... and {len(self.names) - MAX_LISTED_NAMES} more")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return lines

    def headline(self) -> str:
        """Return the message with the key trail in front, when there is one."""
        return f"{self.trail}: {self.message}" if self.trail else self.message

    def format(self) -> str:
        """Render the diagnostic as a few lines for a terminal."""
        head = f"{self.location}: {self.severity} [{self.code}]: {self.headline()}"
        return "\n".join([head, *self.detail_lines()])

    def to_dict(self) -> dict[str, Any]:
        """Return the diagnostic as plain data."""
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "trail": self.trail,
            "value": None if self.value is None else _json_value(self.raw_value),
            "expected": self.expected,
            "hint": self.hint,
            "names": list(self.names),
        }


def _json_value(value: Any) -> Any:
    """Return ``value`` as JSON data.

    A date or a non-finite number, which JSON cannot hold, becomes its YAML text
    (``.inf``). So does a list or mapping whose YAML text is longer than
    :data:`MAX_VALUE_CHARS`, because aliases can expand a small rule file into
    a very large value.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (list, tuple, dict)):
        text = format_value(value, MAX_VALUE_CHARS + 1)
        if len(text) > MAX_VALUE_CHARS:
            return format_value(value)
        if isinstance(value, dict):
            return {str(key): _json_value(item) for key, item in value.items()}
        return [_json_value(item) for item in value]
    return format_value(value)


def _glob_value(problem: Problem) -> str | None:
    written = problem.raw_value
    if problem.value is None or not isinstance(written, str):
        return None
    if not _GLOB_TRAIL.match(problem.trail):
        return None
    return glob_translation(written, search=problem.trail.startswith("no_weight_decay"))


def from_problem(problem: Problem) -> Diagnostic:
    """Turn a schema or loading problem into an error diagnostic.

    A pattern that does not compile because it is written as a glob, such as
    ``*.bias``, gets the code ``glob-pattern`` and a hint with the regular
    expression it probably means.
    """
    diagnostic = Diagnostic(
        "error",
        "invalid-rule-file",
        problem.message,
        problem.file,
        problem.line,
        problem.column,
        problem.trail,
        problem.value,
        problem.expected,
        problem.hint,
        raw_value=problem.raw_value,
    )
    translation = _glob_value(problem)
    if translation is not None:
        diagnostic = replace(
            diagnostic,
            code="glob-pattern",
            hint=f"patterns are regular expressions, not globs: write {quoted(translation)}",
        )
    return diagnostic


def _position(rules: RuleSet, trail: str) -> tuple[int | None, int | None]:
    probe = trail
    while probe:
        if probe in rules.positions:
            return rules.positions[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return None, None


def from_finding(finding: Finding, rules: RuleSet, *, strict: bool = False) -> Diagnostic:
    """Turn a static or plan finding into a warning, or an error under ``--strict``."""
    line, column = _position(rules, finding.trail) if finding.trail else (None, None)
    return Diagnostic(
        "error" if strict else "warning",
        finding.code,
        finding.message,
        rules.source,
        line,
        column,
        finding.trail,
        hint=finding.hint,
        names=finding.names,
    )


def _split_message(text: str, source: str) -> tuple[str, str | None]:
    if text.startswith(f"{source}: "):
        text = text[len(source) + 2 :]
    message, _, hint = text.partition("\n  Hint: ")
    return message.strip(), (" ".join(hint.split()) or None)


def from_error(
    exc: GroupRulesError, rules: RuleSet | None = None, code: str = "invalid-input"
) -> list[Diagnostic]:
    """Turn an error raised while evaluating rules against a network into diagnostics.

    Args:
        exc: The error.
        rules: The rule set being evaluated, which locates the error in its file.
        code: Code for an error that is not about the rule file, such as an
            unreadable input.

    Returns:
        One diagnostic, or one per failed expectation.
    """
    source = rules.source if rules is not None else ""
    if rules is not None and isinstance(exc, UnmatchedParametersError):
        line, column = _position(rules, "rules")
        return [
            Diagnostic(
                "error",
                "unmatched-parameters",
                f"{len(exc.names)} trainable parameter(s) matched no rule",
                source,
                line,
                column,
                "rules",
                hint="add a rule whose pattern matches these names, or add an explicit "
                "catch-all rule (pattern: '.*') as the last rule if they belong at one layer",
                names=exc.names,
            )
        ]
    if rules is not None and isinstance(exc, ExpectationError):
        found = []
        for failure in exc.failures:
            key = _EXPECT_KEY.match(failure)
            trail = key.group(1) if key else "expect"
            line, column = _position(rules, trail)
            message = regex.sub(r" \([^()]*:\d+(?::\d+)?\)", "", failure)
            found.append(
                Diagnostic(
                    "error",
                    "expect-failed",
                    message,
                    source,
                    line,
                    column,
                    hint="the network's parameter names may have changed; run `grouprules "
                    "explain` to see the groups, then fix the rules or the expect block; for "
                    "another configuration of the same architecture, pass --no-expect",
                )
            )
        return found

    if isinstance(exc, RuleEvaluationError):
        named = exc.rule and not exc.trail.startswith(f"{exc.rule}.")
        about = f"rule {exc.rule}: " if named else ""
        return [
            Diagnostic(
                "error",
                "rule-evaluation-failed",
                f"{about}{exc.reason}",
                exc.source,
                exc.line,
                exc.column,
                exc.trail,
                hint=exc.hint,
            )
        ]

    message, hint = _split_message(str(exc), source)
    if rules is None:
        return [Diagnostic("error", code, message, hint=hint)]
    kind = "no-trainable-parameters" if isinstance(exc, NoTrainableParametersError) else code
    return [Diagnostic("error", kind, message, source, hint=hint)]


def render_table(diagnostics: Iterable[Diagnostic]) -> str:
    """Render diagnostics for a terminal, one block each."""
    return "\n".join(diagnostic.format() for diagnostic in diagnostics)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(
    severity: str,
    message: str,
    *,
    title: str,
    file: str | None = None,
    line: int | None = None,
    column: int | None = None,
) -> str:
    """Format one GitHub Actions workflow command (``::error`` or ``::warning``).

    The message's ``%``, carriage returns and newlines are escaped as ``%25``,
    ``%0D`` and ``%0A``; property values also escape ``:`` and ``,``.

    Example:
        >>> github_annotation("error", "bad\\nvalue", title="grouprules x", file="r.yaml", line=3)
        '::error file=r.yaml,line=3,title=grouprules x::bad%0Avalue'
    """
    properties = []
    if file is not None:
        properties.append(f"file={_escape_property(file)}")
        if line is not None:
            properties.append(f"line={line}")
            if column is not None:
                properties.append(f"col={column}")
    properties.append(f"title={_escape_property(title)}")
    return f"::{severity} {','.join(properties)}::{_escape_data(message)}"


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """Render diagnostics as GitHub workflow annotations, one line each."""
    return "\n".join(
        github_annotation(
            item.severity,
            "\n".join([item.headline(), *(line.strip() for line in item.detail_lines())]),
            title=f"grouprules {item.code}",
            file=item.file,
            line=item.line,
            column=item.column,
        )
        for item in diagnostics
    )
