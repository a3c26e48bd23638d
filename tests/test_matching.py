"""Tests for rule matching: anchoring, first match, layer ids and the decay decision."""

from __future__ import annotations

import pytest

from grouprules import ParamRecord, RuleEvaluationError, loads_rules
from grouprules.matching import RuleSet, describe_anchoring

HEADER = "schema_version: 1\nname: t\nnum_layers: 3\nlayer_decay: 0.5\n"


def _rules(body: str) -> RuleSet:
    return loads_rules(HEADER + body, source="m.yaml")


def _layer(rules: RuleSet, name: str) -> tuple[str, int] | None:
    found = rules.first_match(name)
    if found is None:
        return None
    rule, match = found
    return rule.label, rule.layer_id(match, rules.num_layers)


@pytest.mark.parametrize(
    ("name", "matched"),
    [
        ("head.dense.weight", True),
        ("backbone.head.weight", False),
        ("heads.weight", False),
        ("head.", True),
    ],
)
def test_rule_pattern_anchored_at_start(name: str, matched: bool) -> None:
    rules = _rules("rules:\n  - {pattern: 'head\\.', layer: head}\n")

    assert (rules.first_match(name) is not None) is matched


def test_dollar_anchors_end() -> None:
    rules = _rules("rules:\n  - {pattern: 'head\\.bias$', layer: head}\n")

    assert rules.first_match("head.bias") is not None
    assert rules.first_match("head.bias_extra") is None


def test_alternation_anchored_as_a_whole() -> None:
    rules = _rules("rules:\n  - {pattern: 'neck\\.|head\\.', layer: head}\n")

    assert rules.first_match("head.dense.weight") is not None
    assert rules.first_match("backbone.head.weight") is None


def test_first_match_wins() -> None:
    rules = _rules(
        "rules:\n"
        "  - {name: specific, pattern: 'blocks\\.0\\.', layer: 0}\n"
        "  - {name: general, pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: i + 1}\n"
        "  - {name: catch-all, pattern: '.*', layer: head}\n"
    )

    assert _layer(rules, "blocks.0.weight") == ("specific", 0)
    assert _layer(rules, "blocks.1.weight") == ("general", 2)
    assert _layer(rules, "pos_embed") == ("catch-all", 4)


def test_no_match_returns_none() -> None:
    rules = _rules("rules:\n  - {pattern: 'a', layer: 0}\n")

    assert rules.first_match("b") is None


def test_no_decay_names_searched_anywhere() -> None:
    rules = _rules(
        "rules:\n  - {pattern: '.*', layer: 0}\nno_weight_decay:\n  names: ['norm', '^pos$']\n"
    )

    assert rules.no_decay_name_matches(0, "blocks.0.layer_norm.gamma")
    assert not rules.no_decay_name_matches(0, "blocks.0.fc.weight")
    assert rules.no_decay_name_matches(1, "pos")
    assert not rules.no_decay_name_matches(1, "x.pos")


def test_anchoring_described() -> None:
    assert describe_anchoring() == (
        "rule patterns match from the start of the name (regex.match; add $ to anchor the end); "
        "no_weight_decay.names patterns match anywhere in the name (regex.search)"
    )


@pytest.mark.parametrize(
    ("record", "reason", "decay"),
    [
        (ParamRecord("blocks.0.forced.bias", (4,)), "rules[0].weight_decay", True),
        (ParamRecord("blocks.0.free.weight", (4, 4)), "rules[1].weight_decay", False),
        (ParamRecord("blocks.0.fc.bias", (4,)), "no_weight_decay.names[0]", False),
        (ParamRecord("blocks.0.gamma", (4,)), "no_weight_decay.max_rank", False),
        (
            ParamRecord("blocks.0.norm.scale", (4, 2, 2), ("LayerNorm", "Cell")),
            "no_weight_decay.cell_types[0]",
            False,
        ),
        (
            ParamRecord("blocks.0.norm.scale", (4, 2, 2), ("MyNorm", "LayerNorm", "Cell")),
            "no_weight_decay.cell_types[0]",
            False,
        ),
        (ParamRecord("blocks.0.fc.weight", (4, 4), ("Dense", "Cell")), "default", True),
    ],
)
def test_decay_precedence(record: ParamRecord, reason: str, decay: bool) -> None:
    rules = _rules(
        "rules:\n"
        "  - {pattern: 'blocks\\.0\\.forced\\.', layer: 1, weight_decay: true}\n"
        "  - {pattern: 'blocks\\.0\\.free\\.', layer: 1, weight_decay: false}\n"
        "  - {pattern: 'blocks\\.', layer: 1}\n"
        "no_weight_decay:\n"
        "  names: ['\\.bias$']\n"
        "  max_rank: 1\n"
        "  cell_types: [LayerNorm]\n"
    )
    found = rules.first_match(record.name)
    assert found is not None

    decision = rules.decide_decay(record, found[0])

    assert decision.reason == reason
    assert decision.decay is decay


def test_cell_type_matches_whole_class_names() -> None:
    rules = _rules(
        "rules:\n  - {pattern: '.*', layer: 0}\nno_weight_decay:\n  cell_types: [Norm]\n"
    )
    record = ParamRecord("norm.gamma", (4,), ("LayerNorm", "Cell"))

    assert rules.decide_decay(record, rules.rules[0]).decay is True


def test_max_rank_zero_exempts_scalars_only() -> None:
    rules = _rules("rules:\n  - {pattern: '.*', layer: 0}\nno_weight_decay: {max_rank: 0}\n")

    assert rules.decide_decay(ParamRecord("t", ()), rules.rules[0]).decay is False
    assert rules.decide_decay(ParamRecord("b", (3,)), rules.rules[0]).decay is True


def test_capture_not_integer() -> None:
    rules = _rules("rules:\n  - {name: any, pattern: 'b(?P<i>.+)', layer: 'min(i, 3)'}\n")
    rule, match = rules.first_match("b²")  # type: ignore[misc]

    with pytest.raises(RuleEvaluationError) as caught:
        rule.layer_id(match, rules.num_layers)

    assert str(caught.value) == (
        "m.yaml:6:47: rules[0].layer (any): capture 'i' is '²' for parameter 'b²', not an "
        "integer of at most 9 digits\n"
        "  Hint: restrict the capture to digits, as in (?P<i>\\d+)"
    )


def test_optional_capture_missing() -> None:
    rules = _rules("rules:\n  - {pattern: 'b(?P<i>\\d+)?', layer: i}\n")
    rule, match = rules.first_match("b.weight")  # type: ignore[misc]

    with pytest.raises(RuleEvaluationError) as caught:
        rule.layer_id(match, rules.num_layers)

    assert caught.value.reason == (
        "capture 'i' is unset (its group did not take part in the match) for parameter "
        "'b.weight', not an integer of at most 9 digits"
    )


def test_expression_divides_by_zero() -> None:
    rules = _rules("rules:\n  - {pattern: 'b(?P<i>\\d+)', layer: '3 // i'}\n")
    rule, match = rules.first_match("b0")  # type: ignore[misc]

    with pytest.raises(RuleEvaluationError) as caught:
        rule.layer_id(match, rules.num_layers)

    assert str(caught.value) == (
        "m.yaml:6:37: rules[0].layer (rules[0]): '3 // i' divides by zero for parameter 'b0' "
        "(captures {num_layers: 3, head: 4, i: 0})\n"
        "  Hint: guard the divisor, for example with max(1, ...)"
    )


def test_expression_outside_range() -> None:
    rules = _rules("rules:\n  - {pattern: 'b(?P<i>\\d+)', layer: 'i + 1'}\n")
    rule, match = rules.first_match("b7")  # type: ignore[misc]

    with pytest.raises(RuleEvaluationError) as caught:
        rule.layer_id(match, rules.num_layers)

    assert caught.value.reason == "'i + 1' gives layer id 8 for parameter 'b7', outside 0..4"
    assert caught.value.hint == (
        "raise num_layers or bound the expression, for example min(i + 1, head)"
    )
    assert caught.value.trail == "rules[0].layer"
    assert caught.value.parameter == "b7"


def test_head_word_and_reserved_names() -> None:
    rules = _rules(
        "rules:\n"
        "  - {pattern: 'a', layer: ' head '}\n"
        "  - {pattern: 'b', layer: 'head - 1'}\n"
        "  - {pattern: 'c', layer: 'num_layers'}\n"
    )

    assert _layer(rules, "a") == ("rules[0]", 4)
    assert _layer(rules, "b") == ("rules[1]", 3)
    assert _layer(rules, "c") == ("rules[2]", 3)


def test_locate_falls_back_to_enclosing_key() -> None:
    rules = _rules("rules:\n  - {pattern: 'a', layer: 0}\n")

    assert rules.locate("rules[0].layer") == "m.yaml:6:27"
    assert rules.locate("rules[0].name") == "m.yaml:6:5"
    assert rules.locate("expect.groups") == "m.yaml"
