"""Static checks of a rule file: likely mistakes that the schema accepts.

The checks need no network. Each returns :class:`~grouprules.findings.Finding`
warnings with a hint; ``grouprules validate --strict`` turns them into failures.

Codes:

* ``impossible-pattern``: an anchor makes the pattern unable to match any name
  (``a^b``, ``$x``).
* ``shadowed-rule``: an earlier rule matches every name a later rule matches,
  so the later rule never places a parameter. Detected for identical patterns,
  an earlier catch-all (``.*``) and an earlier pattern that is a literal prefix
  (``backbone\\.`` before ``backbone\\.block1\\.``).
* ``layer-out-of-range`` and ``layer-division-by-zero``: a layer expression
  leaves ``0..num_layers + 1`` or divides by zero for some capture value. A
  bounded capture such as ``[0-5]`` or ``\\d{1,2}`` is tried at every value it
  can hold. An unbounded one such as ``\\d+`` is tried only at 0 and 1, because
  its largest value depends on the network's depth.
* ``glob-pattern``: the pattern reads like a shell glob (``blocks.*.weight``).
* ``no-decay-substring``: a ``no_weight_decay.names`` entry is one bare word
  (``bn``, ``norm``), which is searched anywhere and so also matches inside
  longer words.
"""

from __future__ import annotations

from itertools import product

from ._pattern_analysis import (
    PatternTree,
    capture_values,
    glob_translation,
    impossible_anchor,
    literal_prefix,
    parse_pattern,
    plain_word,
    shadow_prefix,
)
from ._quoting import quoted
from .expressions import LayerExpression
from .findings import Finding
from .matching import CompiledRule, RuleSet

__all__ = ["LINT_CODES", "MAX_EVALUATIONS", "lint_rules", "quoted"]

#: Every code :func:`lint_rules` can report.
LINT_CODES = (
    "impossible-pattern",
    "shadowed-rule",
    "layer-out-of-range",
    "layer-division-by-zero",
    "glob-pattern",
    "no-decay-substring",
)

#: Most evaluations of one layer expression; captures are sampled below this.
MAX_EVALUATIONS = 100_000
#: Values tried for a capture whose pattern does not bound it, such as ``\d+``: every
#: network has a block 0 and a capture worth reading takes at least two values.
UNBOUNDED_VALUES = (0, 1)


def _rule_name(rule: CompiledRule) -> str:
    return "this rule" if rule.label == rule.trail else f"rule {rule.label}"


def _rule_reference(rule: CompiledRule) -> str:
    return rule.trail if rule.label == rule.trail else f"{rule.label} ({rule.trail})"


def _finding(rules: RuleSet, code: str, trail: str, message: str, hint: str) -> Finding:
    return Finding(code, message, trail, rules.locate(trail), hint)


def _pattern_findings(
    rules: RuleSet, trail: str, pattern: str, tree: PatternTree | None, *, search: bool
) -> list[Finding]:
    findings = []
    if tree is not None:
        reason = impossible_anchor(tree)
        if reason:
            findings.append(
                _finding(
                    rules,
                    "impossible-pattern",
                    trail,
                    f"pattern {quoted(pattern)} can match no parameter name: {reason}",
                    "remove the misplaced anchor, or escape it (\\^ or \\$) if the name "
                    "contains that character",
                )
            )
    translation = glob_translation(pattern, search=search)
    if translation is not None:
        findings.append(
            _finding(
                rules,
                "glob-pattern",
                trail,
                f"pattern {quoted(pattern)} looks like a shell glob, but patterns are regular "
                "expressions: '.' matches any character and '*' repeats the one before it",
                f"write the regular expression, such as {quoted(translation)}",
            )
        )
    return findings


def _shadowing_rule(
    rule: CompiledRule,
    tree: PatternTree | None,
    earlier: list[tuple[CompiledRule, PatternTree | None]],
) -> tuple[CompiledRule, str] | None:
    prefix = literal_prefix(tree) if tree is not None else None
    for candidate, candidate_tree in earlier:
        if candidate.pattern == rule.pattern and candidate.compiled.flags == rule.compiled.flags:
            return candidate, "has the same pattern"
        if prefix is None or candidate_tree is None:
            continue
        covered = shadow_prefix(candidate_tree)
        if covered is None:
            continue
        candidate_prefix, needs_more = covered
        if prefix.startswith(candidate_prefix) and (
            not needs_more or len(prefix) > len(candidate_prefix)
        ):
            if candidate_prefix:
                reason = f"matches every name that starts with {quoted(candidate_prefix)}"
            else:
                reason = "is a catch-all that matches every name"
            return candidate, reason
    return None


def _shadow_finding(
    rules: RuleSet, rule: CompiledRule, earlier: CompiledRule, reason: str
) -> Finding:
    return _finding(
        rules,
        "shadowed-rule",
        f"{rule.trail}.pattern",
        f"{_rule_name(rule)} ({quoted(rule.pattern)}) can never place a parameter: the earlier "
        f"rule {_rule_reference(earlier)}, pattern {quoted(earlier.pattern)}, {reason}, and the "
        "first match wins",
        f"move this rule above {earlier.trail}, or make the earlier pattern more specific",
    )


def _capture_ranges(expression: LayerExpression, tree: PatternTree | None) -> dict[str, list[int]]:
    ranges: dict[str, list[int]] = {}
    names = sorted(expression.names - {"num_layers", "head"})
    for name in names:
        bounded = capture_values(tree, name) if tree is not None else None
        # NOTE: how far an unbounded capture such as \d+ goes depends on the network's
        # depth, which the rule file does not state, so only the first indices are tried.
        ranges[name] = sorted(bounded) if bounded is not None else list(UNBOUNDED_VALUES)

    # Sample evenly when the product of the ranges is too large to enumerate.
    total = 1
    for listed in ranges.values():
        total *= len(listed)
    if total > MAX_EVALUATIONS:
        keep = max(2, int(MAX_EVALUATIONS ** (1 / len(names))))
        for name, listed in ranges.items():
            sampled = listed[:: max(1, len(listed) // keep)]
            if sampled[-1] != listed[-1]:
                sampled.append(listed[-1])
            ranges[name] = sampled
    return ranges


def _layer_findings(rules: RuleSet, rule: CompiledRule, tree: PatternTree | None) -> list[Finding]:
    expression = rule.layer
    if not isinstance(expression, LayerExpression):
        return []
    ranges = _capture_ranges(expression, tree)
    head = rules.head_id
    base = {"num_layers": rules.num_layers, "head": head}
    names = list(ranges)
    trail = f"{rule.trail}.layer"

    for combination in product(*(ranges[name] for name in names)):
        env = dict(zip(names, combination, strict=True))
        where = ", ".join(f"{name}={value}" for name, value in env.items()) or "every name"
        try:
            layer_id = expression.evaluate({**base, **env})
        except ZeroDivisionError:
            return [
                _finding(
                    rules,
                    "layer-division-by-zero",
                    trail,
                    f"layer expression {quoted(expression.source)} divides by zero for {where}",
                    "guard the divisor, for example with max(1, ...)",
                )
            ]
        if 0 <= layer_id <= head:
            continue
        if layer_id > head:
            hint = (
                f"check the offset, bound the expression, as in min({expression.source}, head), "
                "or raise num_layers if the network has that many blocks"
            )
        else:
            hint = f"bound it, as in max(0, {expression.source}), or check the offset"
        return [
            _finding(
                rules,
                "layer-out-of-range",
                trail,
                f"layer expression {quoted(expression.source)} gives layer id "
                f"{layer_id} for {where}, outside 0..{head} (num_layers + 1)",
                hint,
            )
        ]
    return []


def _no_decay_findings(rules: RuleSet) -> list[Finding]:
    findings = []
    for index, (pattern, _compiled) in enumerate(rules.no_decay_names):
        trail = f"no_weight_decay.names[{index}]"
        tree = parse_pattern(pattern)
        findings.extend(_pattern_findings(rules, trail, pattern, tree, search=True))
        word = plain_word(tree) if tree is not None else None
        if word is not None:
            findings.append(
                _finding(
                    rules,
                    "no-decay-substring",
                    trail,
                    f"no_weight_decay pattern {quoted(pattern)} is searched anywhere in the name, "
                    f"so it also matches inside longer words, such as "
                    f"'{word}_proj.weight' or 'sub{word}.weight'",
                    f"anchor it to a name part, as in '(?:^|\\.){word}\\.' for a cell named "
                    f"{word}, or '\\.{word}$' for a parameter named {word}",
                )
            )
    return findings


def lint_rules(rules: RuleSet) -> list[Finding]:
    """Check a loaded rule file for likely mistakes, without a network.

    Args:
        rules: The compiled rule file, from :func:`grouprules.load_rules`.

    Returns:
        The findings in file order: each rule's pattern, shadowing and layer,
        then the ``no_weight_decay`` names.

    Example:
        >>> from grouprules import loads_rules
        >>> rules = loads_rules('''
        ... schema_version: 1
        ... name: tiny
        ... num_layers: 1
        ... layer_decay: 0.5
        ... rules:
        ...   - {pattern: '.*', layer: 1}
        ...   - {pattern: 'head\\.', layer: head}
        ... ''')
        >>> [finding.code for finding in lint_rules(rules)]
        ['shadowed-rule']
    """
    findings: list[Finding] = []
    earlier: list[tuple[CompiledRule, PatternTree | None]] = []
    for rule in rules.rules:
        tree = parse_pattern(rule.pattern)
        findings.extend(
            _pattern_findings(rules, f"{rule.trail}.pattern", rule.pattern, tree, search=False)
        )
        shadowing = _shadowing_rule(rule, tree, earlier)
        if shadowing is not None:
            findings.append(_shadow_finding(rules, rule, *shadowing))
        findings.extend(_layer_findings(rules, rule, tree))
        earlier.append((rule, tree))
    findings.extend(_no_decay_findings(rules))
    return findings
