"""Warnings about a grouping that is valid but probably not what the author meant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import regex

from ._quoting import quoted
from .errors import MAX_LISTED_NAMES

if TYPE_CHECKING:
    from .matching import RuleSet
    from .plan import Assignment, Skipped
    from .records import ParamRecord

__all__ = ["Finding", "check_plan"]

_NORM_CLASS = regex.compile(r"Norm")
# A name segment such as norm1, layer_norm, LayerNorm, input_layernorm, norm_out, bn1,
# ln_f; "enormous" or "normal" is not one.
_NORM_NAME_PART = regex.compile(
    r"(?i)(?:^|\.)(?:(?:[a-z0-9]*_)*[a-z]*norm(?:_?\d+)?(?:_[a-z0-9]+)*|bn\d*|ln(?:_?[a-z0-9]+)?)\."
)


@dataclass(frozen=True)
class Finding:
    """One warning about a rule file or the plan it produced.

    Attributes:
        code: Stable identifier, such as ``layer-gap``.
        message: What was found, as a sentence.
        trail: Key trail in the rule file the finding is about, if any.
        location: ``file:line:column`` of ``trail``, or the file path.
        hint: How to fix it.
        names: Parameter names involved, when the finding is about parameters.
    """

    code: str
    message: str
    trail: str = ""
    location: str = ""
    hint: str | None = None
    names: tuple[str, ...] = ()

    def format(self) -> str:
        """Render the finding as a few lines for a terminal or a log."""
        where = f"{self.location}: " if self.location else ""
        about = f"{self.trail}: " if self.trail else ""
        lines = [f"{where}warning [{self.code}]: {about}{self.message}"]
        for name in self.names[:MAX_LISTED_NAMES]:
            lines.append(f"  {name}")
        if len(self.names) > MAX_LISTED_NAMES:
            lines.append(f"  ... and {len(self.names) - MAX_LISTED_NAMES} more")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as plain data."""
        return {
            "code": self.code,
            "message": self.message,
            "trail": self.trail,
            "location": self.location,
            "hint": self.hint,
            "names": list(self.names),
        }


def _ranges(ids: Sequence[int]) -> str:
    parts: list[str] = []
    start = previous = ids[0]
    for value in list(ids[1:]) + [None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(str(start) if start == previous else f"{start}..{previous}")
        if value is not None:
            start = previous = value
    return ", ".join(parts)


def _looks_like_norm(record: ParamRecord) -> bool:
    if record.owner_types:
        return any(_NORM_CLASS.search(name) for name in record.owner_types)
    # Every match of _NORM_NAME_PART contains one of these, and str.lower() folds the
    # letters n, o, r, m, b and l as the pattern's case-insensitive match does.
    lowered = record.name.lower()
    if "norm" not in lowered and "bn" not in lowered and "ln" not in lowered:
        return False
    return _NORM_NAME_PART.search(record.name) is not None


def _layer_findings(rules: RuleSet, used: set[int], skipped: Sequence[Skipped]) -> list[Finding]:
    findings = []
    frozen_ids = {item.layer_id for item in skipped if item.layer_id is not None}
    if used:
        # Ids whose parameters are all frozen are reported as frozen-layers instead.
        gaps = [i for i in range(min(used), max(used)) if i not in used and i not in frozen_ids]
        if gaps:
            findings.append(
                Finding(
                    "layer-gap",
                    f"layer id(s) {_ranges(gaps)} hold no trainable parameter between used "
                    f"ids {min(used)} and {max(used)}, so the layers above skip a decay step",
                    "num_layers",
                    rules.locate("num_layers"),
                    "check for an off-by-one in the layer of the head or of the last block, "
                    "or lower num_layers",
                )
            )
        if rules.head_id not in used:
            frozen_head = " (its parameters are all frozen)" if rules.head_id in frozen_ids else ""
            findings.append(
                Finding(
                    "empty-head",
                    f"no trainable parameter has the head id {rules.head_id} "
                    f"(num_layers + 1){frozen_head}, so no group gets lr_scale 1.0; the "
                    f"highest id used is {max(used)}",
                    "num_layers",
                    rules.locate("num_layers"),
                    f"set num_layers to {max(used) - 1} or map the head to `layer: head`",
                )
            )

    frozen_only = sorted(frozen_ids - used)
    if frozen_only:
        findings.append(
            Finding(
                "frozen-layers",
                f"layer id(s) {_ranges(frozen_only)} contributed no trainable parameter: "
                "all their parameters are frozen",
                hint="this is expected when a backbone is frozen; no group is emitted for them",
            )
        )
    return findings


def _unused_pattern_hint(pattern: str) -> str:
    if "weight" in pattern or "bias" in pattern:
        return (
            "MindSpore names norm parameters gamma and beta, not weight and bias; check the "
            "spelling against `grouprules explain --format json`"
        )
    return "check the spelling against `grouprules explain --format json`"


def _norm_classes(owner_types: set[str]) -> str:
    found = sorted(name for name in owner_types if _NORM_CLASS.search(name))
    return ", ".join(found) if found else "none"


def _decayed_norm_hint(norm_owned: Sequence[ParamRecord]) -> str:
    classes = sorted({record.owner_types[0] for record in norm_owned if record.owner_types})
    if classes:
        hint = (
            f"add their cell classes ({', '.join(classes)}) to no_weight_decay.cell_types or "
            "their names to no_weight_decay.names"
        )
    else:
        hint = (
            "the input (a parameter dump or a checkpoint) carries no cell types, so "
            "no_weight_decay.cell_types cannot exempt them; add their names to "
            "no_weight_decay.names, or evaluate the live network (--model)"
        )
    high_rank = sum(1 for record in norm_owned if record.rank > 1)
    if high_rank:
        hint += (
            f"; max_rank: 1 misses the {high_rank} of rank 2 or more, such as the scale of a "
            "LayerNorm over (C, H, W)"
        )
    return hint


def _decay_findings(
    rules: RuleSet, trainable: Sequence[ParamRecord], assignments: Sequence[Assignment]
) -> list[Finding]:
    findings = []
    policy = rules.spec.no_weight_decay
    for index, (pattern, _) in enumerate(rules.no_decay_names):
        if not any(rules.no_decay_name_matches(index, record.name) for record in trainable):
            trail = f"no_weight_decay.names[{index}]"
            findings.append(
                Finding(
                    "unused-no-decay-pattern",
                    f"no_weight_decay pattern {quoted(pattern)} matches no trainable parameter",
                    trail,
                    rules.locate(trail),
                    _unused_pattern_hint(pattern),
                )
            )

    owner_types = {name for record in trainable for name in record.owner_types}
    for index, cell_type in enumerate(policy.cell_types):
        if owner_types and cell_type not in owner_types:
            trail = f"no_weight_decay.cell_types[{index}]"
            findings.append(
                Finding(
                    "unused-no-decay-cell-type",
                    f"no trainable parameter is owned by a cell of class {quoted(cell_type)} "
                    "or of a subclass of it",
                    trail,
                    rules.locate(trail),
                    "check the class name's spelling and case; norm classes owning parameters "
                    f"here: {_norm_classes(owner_types)}",
                )
            )

    if policy.cell_types and not any(record.owner_types for record in trainable):
        findings.append(
            Finding(
                "no-owner-types",
                "no_weight_decay.cell_types is set, but the input carries no owning cell "
                "types (a parameter dump or a checkpoint), so that test exempts nothing",
                "no_weight_decay.cell_types",
                rules.locate("no_weight_decay.cell_types"),
                "evaluate against the live network (--model) or add name patterns",
            )
        )

    decayed = {item.name for item in assignments if item.decay and item.weight_decay > 0}
    low_rank = [r.name for r in trainable if r.name in decayed and r.rank <= 1]
    if low_rank:
        findings.append(
            Finding(
                "decayed-low-rank",
                f"{len(low_rank)} parameter(s) of rank 0 or 1 still get weight decay",
                "no_weight_decay",
                rules.locate("no_weight_decay"),
                "biases and norm scales are usually exempt; add max_rank: 1 or a name pattern",
                tuple(low_rank),
            )
        )
    norm_owned = [r for r in trainable if r.name in decayed and _looks_like_norm(r)]
    if norm_owned:
        findings.append(
            Finding(
                "decayed-norm",
                f"{len(norm_owned)} norm parameter(s) still get weight decay",
                "no_weight_decay",
                rules.locate("no_weight_decay"),
                _decayed_norm_hint(norm_owned),
                tuple(record.name for record in norm_owned),
            )
        )
    return findings


def check_plan(
    rules: RuleSet,
    trainable: Sequence[ParamRecord],
    assignments: Sequence[Assignment],
    skipped: Sequence[Skipped],
    rule_matches: Sequence[int],
    frozen_matches: Sequence[int],
) -> list[Finding]:
    """Return the warnings about a finished grouping.

    Args:
        rules: The rule set that produced the grouping.
        trainable: The grouped parameter records, in network order.
        assignments: Their assignments, in the same order.
        skipped: Frozen parameters and shared aliases.
        rule_matches: Trainable parameters placed by each rule.
        frozen_matches: Frozen parameters matched by each rule.

    Returns:
        The findings, in a fixed order: layer ids, unused rules, weight decay.
    """
    findings = _layer_findings(rules, {item.layer_id for item in assignments}, skipped)
    for rule, count, frozen in zip(rules.rules, rule_matches, frozen_matches, strict=False):
        if count == 0:
            placed = "only frozen parameters" if frozen else "no parameter"
            findings.append(
                Finding(
                    "unused-rule",
                    f"rule {rule.label} ({quoted(rule.pattern)}) places {placed}",
                    rule.trail,
                    rules.locate(f"{rule.trail}.pattern"),
                    "an earlier rule may match first, or the module was renamed",
                )
            )
    findings.extend(_decay_findings(rules, trainable, assignments))
    return findings
