"""Compiled rules: which rule sets a parameter's layer and whether it is decayed.

Anchoring: a rule's ``pattern`` is matched from the start of the parameter name
(``regex.match``), so ``head\\.`` matches ``head.dense.weight`` but not
``backbone.head.weight``. End a pattern with ``$`` to anchor the end as well.
A ``no_weight_decay.names`` pattern is searched anywhere in the name
(``regex.search``), so ``\\.bias$`` exempts every bias.

Decay precedence, highest first: the matched rule's ``weight_decay`` flag, then
``no_weight_decay`` (a name pattern, the rank limit or an owning cell type; any
one of them exempts the parameter), then the default, which is to decay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import regex

from . import _prefilter
from ._quoting import format_value, quoted
from .errors import RuleEvaluationError
from .expressions import LayerExpression
from .records import ParamRecord
from .schema import RuleFile

__all__ = ["MATCH_TIMEOUT_SECONDS", "CompiledRule", "DecayDecision", "RuleSet"]

#: Maximum time one pattern may spend on one parameter name, in seconds. The
#: ``regex`` package counts the process's CPU time, so on a loaded machine the
#: wall-clock time before the error can be several times longer.
#: NOTE: the limit is per name, so a pattern that stays just under it on every
#: name still costs this much per parameter.
MATCH_TIMEOUT_SECONDS = 0.5
#: Most digits a capture read by a layer expression may have.
MAX_CAPTURE_DIGITS = 9


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to match names.

    Attributes:
        index: Position of the rule in the file, from 0.
        label: The rule's ``name``, or ``rules[<index>]`` when it has none.
        pattern: The pattern as written.
        compiled: The compiled pattern.
        layer: A fixed layer id, or an expression over the pattern's captures.
        weight_decay: The rule's decay override, if any.
        lr_mult: Factor on the lr of matched parameters.
        wd_mult: Factor on the weight decay of matched parameters.
        source: The rule file, for error messages.
        pattern_position: ``(line, column)`` of the pattern in the file, if known.
        layer_position: ``(line, column)`` of the layer in the file, if known.
    """

    index: int
    label: str
    pattern: str
    compiled: regex.Pattern[str]
    layer: int | LayerExpression
    weight_decay: bool | None
    lr_mult: float
    wd_mult: float
    source: str = "<string>"
    pattern_position: tuple[int, int] | None = None
    layer_position: tuple[int, int] | None = None

    @property
    def trail(self) -> str:
        """Key trail of the rule in its file, such as ``rules[3]``."""
        return f"rules[{self.index}]"

    def _error(self, key: str, name: str, reason: str, hint: str) -> RuleEvaluationError:
        position = self.pattern_position if key == "pattern" else self.layer_position
        line, column = position or (None, None)
        return RuleEvaluationError(
            reason,
            source=self.source,
            trail=f"{self.trail}.{key}",
            rule=self.label,
            parameter=name,
            line=line,
            column=column,
            hint=hint,
        )

    @cached_property
    def literal_prefix(self) -> str:
        """Text every name this rule matches starts with, ``""`` when not known."""
        return _prefilter.literal_prefix(self.pattern, self.compiled.flags)

    @cached_property
    def _capture_names(self) -> tuple[str, ...]:
        if isinstance(self.layer, int):
            return ()
        return tuple(sorted(self.layer.names - {"num_layers", "head"}))

    @cached_property
    def _layer_ids(self) -> dict[tuple[object, ...], int]:
        return {}

    def match(self, name: str) -> regex.Match[str] | None:
        """Match ``name`` from its start.

        Raises:
            RuleEvaluationError: The match ran longer than
                :data:`MATCH_TIMEOUT_SECONDS`.
        """
        try:
            return self.compiled.match(name, timeout=MATCH_TIMEOUT_SECONDS)
        except TimeoutError:
            raise self._error(
                "pattern",
                name,
                f"matching {quoted(self.pattern)} against parameter {quoted(name)} took longer "
                f"than {MATCH_TIMEOUT_SECONDS} s",
                "the pattern backtracks catastrophically; remove nested repeats such as "
                "(a+)+, or use an atomic group (?>...)",
            ) from None

    def layer_id(self, match: regex.Match[str], num_layers: int) -> int:
        """Compute the layer id of the parameter that ``match`` matched.

        Raises:
            RuleEvaluationError: A capture is not an integer, the expression
                divides by zero or the id lies outside ``0..num_layers + 1``.
        """
        if isinstance(self.layer, int):
            return self.layer

        # The id depends only on the captured texts, so the parameters of one block
        # share one evaluation. Only valid ids are kept, so a bad capture still raises.
        captures = self._capture_names
        key = (num_layers, match.group(*captures) if captures else None)
        known = self._layer_ids.get(key)
        if known is not None:
            return known

        name = match.string
        env = {"num_layers": num_layers, "head": num_layers + 1}
        for capture in sorted(self.layer.names - env.keys()):
            text = match.group(capture)
            # isdecimal() accepts exactly what int() reads; isdigit() would let "²" through.
            if text is None or not text.isdecimal() or len(text) > MAX_CAPTURE_DIGITS:
                found = (
                    "unset (its group did not take part in the match)"
                    if text is None
                    else format_value(text)
                )
                raise self._error(
                    "layer",
                    name,
                    f"capture {quoted(capture)} is {found} for parameter "
                    f"{quoted(name)}, not an integer of at most {MAX_CAPTURE_DIGITS} digits",
                    f"restrict the capture to digits, as in (?P<{capture}>\\d+)",
                )
            env[capture] = int(text)
        try:
            layer_id = self.layer.evaluate(env)
        except ZeroDivisionError:
            raise self._error(
                "layer",
                name,
                f"{quoted(self.layer.source)} divides by zero for parameter {quoted(name)} "
                f"(captures {format_value(env)})",
                "guard the divisor, for example with max(1, ...)",
            ) from None

        if not 0 <= layer_id <= num_layers + 1:
            raise self._error(
                "layer",
                name,
                f"{quoted(self.layer.source)} gives layer id {layer_id} for parameter "
                f"{quoted(name)}, outside 0..{num_layers + 1}",
                f"raise num_layers or bound the expression, for example "
                f"min({self.layer.source}, head)",
            )
        self._layer_ids[key] = layer_id
        return layer_id


@dataclass(frozen=True)
class DecayDecision:
    """Whether one parameter is decayed, and what decided it.

    Attributes:
        decay: ``True`` when the parameter gets weight decay.
        reason: The key trail of the setting that decided, such as
            ``no_weight_decay.names[0]``, or ``default``.
    """

    decay: bool
    reason: str


# Shared instances of the two decisions most parameters get; decisions are immutable.
_DECAY_BY_DEFAULT = DecayDecision(True, "default")
_NO_DECAY_BY_MAX_RANK = DecayDecision(False, "no_weight_decay.max_rank")


@dataclass(frozen=True)
class RuleSet:
    """A loaded, validated and compiled rule file.

    Build one with :func:`grouprules.load_rules`.

    Attributes:
        spec: The validated rule file.
        source: The file path, or ``<string>`` for text.
        rules: The compiled rules, in file order.
        no_decay_names: ``(pattern, compiled)`` for each ``no_weight_decay.names``.
        positions: ``(line, column)`` of each key trail in the file, 1-based.
    """

    spec: RuleFile
    source: str
    rules: tuple[CompiledRule, ...]
    no_decay_names: tuple[tuple[str, regex.Pattern[str]], ...]
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        """The decay depth L."""
        return self.spec.num_layers

    @property
    def head_id(self) -> int:
        """The head's layer id, ``num_layers + 1``."""
        return self.spec.num_layers + 1

    def locate(self, trail: str) -> str:
        """Return ``file:line:column`` for ``trail``, or the nearest enclosing key found."""
        probe = trail
        while probe:
            if probe in self.positions:
                line, column = self.positions[probe]
                return f"{self.source}:{line}:{column}"
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.source

    def first_match(self, name: str) -> tuple[CompiledRule, regex.Match[str]] | None:
        """Return the first rule whose pattern matches ``name``, with its match."""
        for rule in self.rules:
            # A name without the rule's literal prefix cannot match, so skip the timed regex call.
            if not name.startswith(rule.literal_prefix):
                continue
            match = rule.match(name)
            if match is not None:
                return rule, match
        return None

    @cached_property
    def _no_decay_literals(self) -> tuple[str, ...]:
        return tuple(
            _prefilter.literal_prefix(pattern, compiled.flags)
            for pattern, compiled in self.no_decay_names
        )

    def no_decay_name_matches(self, index: int, name: str) -> bool:
        """Return whether ``no_weight_decay.names[index]`` occurs anywhere in ``name``.

        Raises:
            RuleEvaluationError: The search ran longer than :data:`MATCH_TIMEOUT_SECONDS`.
        """
        if self._no_decay_literals[index] not in name:
            return False
        pattern, compiled = self.no_decay_names[index]
        try:
            return compiled.search(name, timeout=MATCH_TIMEOUT_SECONDS) is not None
        except TimeoutError:
            trail = f"no_weight_decay.names[{index}]"
            line, column = self.positions.get(trail, (None, None))
            raise RuleEvaluationError(
                f"searching {quoted(pattern)} in parameter {quoted(name)} took longer than "
                f"{MATCH_TIMEOUT_SECONDS} s",
                source=self.source,
                trail=trail,
                parameter=name,
                line=line,
                column=column,
                hint="the pattern backtracks catastrophically; remove nested repeats such as "
                "(a+)+, or use an atomic group (?>...)",
            ) from None

    def decide_decay(self, record: ParamRecord, rule: CompiledRule) -> DecayDecision:
        """Decide whether ``record``, matched by ``rule``, gets weight decay."""
        if rule.weight_decay is not None:
            return DecayDecision(rule.weight_decay, f"{rule.trail}.weight_decay")

        policy = self.spec.no_weight_decay
        for index in range(len(self.no_decay_names)):
            if self.no_decay_name_matches(index, record.name):
                return DecayDecision(False, f"no_weight_decay.names[{index}]")
        if policy.max_rank is not None and len(record.shape) <= policy.max_rank:
            return _NO_DECAY_BY_MAX_RANK
        for index, cell_type in enumerate(policy.cell_types):
            if cell_type in record.owner_types:
                return DecayDecision(False, f"no_weight_decay.cell_types[{index}]")
        return _DECAY_BY_DEFAULT


def describe_anchoring() -> str:
    """Return one sentence on how patterns are anchored, for reports."""
    return (
        "rule patterns match from the start of the name (regex.match; add $ to anchor the end); "
        "no_weight_decay.names patterns match anywhere in the name (regex.search)"
    )
