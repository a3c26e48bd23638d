"""Errors raised by grouprules.

Every error derives from :class:`GroupRulesError`, itself a ``ValueError``, so a
caller can catch the whole family with one ``except`` clause. Errors about a rule
file carry one :class:`Problem` per defect with its location, the key trail, the
offending value, what was expected and a hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ArgumentError",
    "CheckpointError",
    "EmissionError",
    "ExpectationError",
    "GroupRulesError",
    "NoTrainableParametersError",
    "ParameterRecordError",
    "Problem",
    "RuleEvaluationError",
    "RuleFileError",
    "UnmatchedParametersError",
]

#: How many parameter names an error lists before it switches to a count.
MAX_LISTED_NAMES = 20
#: How many problems a :class:`RuleFileError` message lists before it switches to a count.
MAX_LISTED_PROBLEMS = 50


class GroupRulesError(ValueError):
    """Base class of every error that grouprules raises on bad input."""


@dataclass(frozen=True)
class Problem:
    """One defect in a rule file.

    Attributes:
        message: What is wrong, as a sentence.
        file: Path of the rule file, or ``"<string>"`` for text given directly.
        line: 1-based line of the offending value, if known.
        column: 1-based column of the offending value, if known.
        trail: Key trail of the offending value, such as ``rules[3].layer``.
        value: The offending value as YAML text, strings quoted as ``'blocks\\.'``, if any.
        expected: What a valid value looks like.
        hint: How to fix it.
        raw_value: The offending value as read from the file (a string, number,
            boolean, list or mapping), or ``None`` when it is null or there is none.
    """

    message: str
    file: str = "<string>"
    line: int | None = None
    column: int | None = None
    trail: str = ""
    value: str | None = None
    expected: str | None = None
    hint: str | None = None
    raw_value: Any = None

    @property
    def location(self) -> str:
        """The ``file:line:column`` prefix, with the parts that are known."""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def format(self) -> str:
        """Render the problem as a few lines for a terminal or a log."""
        head = (
            f"{self.location}: {self.trail}: {self.message}"
            if self.trail
            else (f"{self.location}: {self.message}")
        )
        lines = [head]
        if self.value is not None:
            lines.append(f"  value: {self.value}")
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)


class RuleFileError(GroupRulesError):
    """A rule file could not be read, parsed or validated.

    Attributes:
        problems: Every defect found, in file order where known.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        listed = [problem.format() for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        more = len(self.problems) - MAX_LISTED_PROBLEMS
        if more > 0:
            listed.append(f"... and {more} more problem(s); fix the ones above first")
        super().__init__("\n".join(listed))


class RuleEvaluationError(GroupRulesError):
    """A rule failed while it was applied to one parameter.

    Raised for a layer expression that divides by zero or gives a layer id
    outside ``0..num_layers + 1``, a capture that is not an integer, or a
    pattern that exceeds the match timeout. The message starts with
    ``file:line:column: <trail> (<rule>):``.

    Attributes:
        reason: What failed, as a sentence.
        source: The rule file.
        line: 1-based line of the rule's key in the file, if known.
        column: 1-based column, if known.
        trail: Key trail of the setting that failed, such as ``rules[3].layer``.
        rule: Label of the rule, or ``None`` for a ``no_weight_decay`` pattern.
        parameter: The parameter name being evaluated.
        hint: How to fix it.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str,
        trail: str,
        parameter: str,
        rule: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.column = column
        self.trail = trail
        self.rule = rule
        self.parameter = parameter
        self.hint = hint
        location = Problem(reason, source, line, column).location
        about = f"{trail} ({rule})" if rule else trail
        tail = f"\n  Hint: {hint}" if hint else ""
        super().__init__(f"{location}: {about}: {reason}{tail}")


class UnmatchedParametersError(GroupRulesError):
    """Trainable parameters matched no rule and the rule file has no catch-all.

    Attributes:
        names: Every unmatched parameter name, in network order.
    """

    def __init__(self, names: Sequence[str], source: str) -> None:
        self.names: tuple[str, ...] = tuple(names)
        listed = "\n".join(f"  {name}" for name in self.names[:MAX_LISTED_NAMES])
        more = len(self.names) - MAX_LISTED_NAMES
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{source}: {len(self.names)} trainable parameter(s) matched no rule:\n"
            f"{listed}{tail}\n"
            "  Hint: add a rule whose pattern matches these names, or add an explicit "
            "catch-all rule (pattern: '.*') as the last rule if they belong at one layer."
        )


class NoTrainableParametersError(GroupRulesError):
    """The network has no trainable parameter, so there is nothing to group."""


class ParameterRecordError(GroupRulesError):
    """The parameter records cannot be grouped.

    Raised when two records share a name or a shape contains a negative size.
    """


class ArgumentError(GroupRulesError):
    """An argument of a grouprules function is invalid.

    Raised, for example, for a ``layer_decay`` override outside (0, 1] or a
    ``weight_decay`` override that is negative or not finite.
    """


class ExpectationError(GroupRulesError):
    """The plan differs from the rule file's ``expect`` block.

    Attributes:
        failures: One sentence per expectation that failed.
    """

    def __init__(self, failures: Sequence[str], source: str) -> None:
        self.failures: tuple[str, ...] = tuple(failures)
        body = "\n".join(f"  {failure}" for failure in self.failures)
        super().__init__(
            f"{source}: the plan does not meet the rule file's expect block:\n{body}\n"
            "  Hint: the network's parameter names may have changed; run "
            "`grouprules explain` to see the groups, then fix the rules or the expect block. "
            "For another configuration of the same architecture, skip the block with "
            "--no-expect (check_expect=False in Python)."
        )


class EmissionError(GroupRulesError):
    """The groups could not be turned into arguments that MindSpore accepts."""


class CheckpointError(GroupRulesError):
    """A checkpoint file could not be read."""
