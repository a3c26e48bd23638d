"""Tests for the engine: rule files and parameter records in, a plan out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mindspore
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn

from grouprules import (
    ExpectationError,
    ParamRecord,
    Plan,
    UnmatchedParametersError,
    load_rules,
    loads_rules,
    make_plan,
    read_dump,
)
from grouprules.errors import ArgumentError, ParameterRecordError
from grouprules.matching import RuleSet
from grouprules.mindspore import build_groups, records_from_cell

REPO = Path(__file__).resolve().parents[1]
CONVNEXT_DUMP = REPO / "examples" / "convnext_base_params.txt"

HEADER = "schema_version: 1\nname: t\nnum_layers: 2\nlayer_decay: 0.5\nweight_decay: 0.1\n"


@pytest.fixture(autouse=True)
def _pynative_mode() -> Iterator[None]:
    previous = mindspore.get_context("mode")
    mindspore.set_context(mode=mindspore.PYNATIVE_MODE)
    yield
    mindspore.set_context(mode=previous)


def _rules(body: str) -> RuleSet:
    return loads_rules(HEADER + body, source="e.yaml")


def _records(*names: str, shape: tuple[int, ...] = (4, 4)) -> list[ParamRecord]:
    return [ParamRecord(name, shape) for name in names]


# The official ConvNeXt rule, written out independently of rules/convnext.yaml.


def _official_layer_id(name: str) -> int:
    parts = name.split(".")
    if parts[0] in ("neck", "head"):
        return 13
    if parts[1] == "start_cell":
        return 0
    if parts[1] == "block1":
        return 1
    stage = int(parts[2])
    if stage in (0, 1):
        return 2
    if stage == 2:
        return 3
    if stage == 3:
        return 3 + int(parts[3]) // 3
    return 12


def _official_no_decay(name: str) -> bool:
    # Every gamma in ConvNeXt is a LayerNorm scale (the stem's cell 1, a
    # layer_norm cell, the neck) or a block's layer scale, so none is decayed.
    return name.split(".")[-1] in ("bias", "beta", "gamma")


@pytest.fixture(scope="module")
def convnext_plan() -> Plan:
    return make_plan(load_rules(REPO / "rules" / "convnext.yaml"), read_dump(CONVNEXT_DUMP))


def test_convnext_every_layer_id_official(convnext_plan: Plan) -> None:
    records = read_dump(CONVNEXT_DUMP)

    assert len(records) == 304
    for record in records:
        assignment = convnext_plan.assignment(record.name)
        assert assignment.layer_id == _official_layer_id(record.name), record.name


def test_convnext_lr_scale_official(convnext_plan: Plan) -> None:
    for assignment in convnext_plan.assignments:
        expected = 0.8 ** (13 - _official_layer_id(assignment.name))
        assert assignment.lr_scale == pytest.approx(expected, rel=1e-12), assignment.name


def test_convnext_weight_decay_official(convnext_plan: Plan) -> None:
    for assignment in convnext_plan.assignments:
        expected = 0.0 if _official_no_decay(assignment.name) else 1e-5
        assert assignment.weight_decay == expected, assignment.name


def test_convnext_counts(convnext_plan: Plan) -> None:
    plan = convnext_plan

    assert len(plan.assignments) == 304
    assert plan.layer_ids == tuple(range(14))
    assert len(plan.groups) == 28
    assert plan.findings == ()
    assert [g.name for g in plan.groups[:3]] == [
        "layer_13_decay",
        "layer_13_no_decay",
        "layer_12_decay",
    ]


def test_convnext_spatial_norm_scale_exempt(convnext_plan: Plan) -> None:
    assignment = convnext_plan.assignment("backbone.down_sample_blocks.3.4.layer_norm.gamma")

    assert assignment.shape == (512, 14, 14)
    assert assignment.weight_decay == 0.0
    assert assignment.decay_rule == "no_weight_decay.names[2]"
    assert assignment.layer_id == 4


def test_unmatched_without_catch_all_raises() -> None:
    rules = _rules("rules:\n  - {pattern: 'a\\.', layer: 0}\n")

    with pytest.raises(UnmatchedParametersError) as caught:
        make_plan(rules, _records("a.w", "b.w", "c.w"))

    assert caught.value.names == ("b.w", "c.w")
    assert str(caught.value).startswith("e.yaml: 2 trainable parameter(s) matched no rule:\n")


def test_explicit_catch_all_places_the_rest() -> None:
    rules = _rules(
        "rules:\n  - {pattern: 'a\\.', layer: 0}\n  - {name: rest, pattern: '.*', layer: head}\n"
    )

    plan = make_plan(rules, _records("a.w", "b.w", "c.w"))

    assert [(a.name, a.layer_id, a.layer_rule) for a in plan.assignments] == [
        ("a.w", 0, "rules[0]"),
        ("b.w", 3, "rest"),
        ("c.w", 3, "rest"),
    ]
    assert plan.rule_matches == (1, 2)


def test_unmatched_frozen_parameter_allowed() -> None:
    rules = _rules("rules:\n  - {pattern: 'a\\.', layer: 0}\n")
    records = [*_records("a.w"), ParamRecord("stray.w", (2,), trainable=False)]

    plan = make_plan(rules, records)

    assert plan.frozen == ("stray.w",)
    assert plan.skipped[0].layer_id is None


def test_frozen_never_shifts_depth() -> None:
    rules = _rules(
        "rules:\n  - {pattern: 'b(?P<i>\\d+)\\.', layer: i}\n  - {pattern: 'h\\.', layer: head}\n"
    )
    records = [
        ParamRecord("b0.w", (2, 2), trainable=False),
        ParamRecord("b1.w", (2, 2), trainable=False),
        ParamRecord("b2.w", (2, 2)),
        ParamRecord("h.w", (2, 2)),
    ]

    plan = make_plan(rules, records)

    assert [(a.name, a.layer_id, a.lr_scale) for a in plan.assignments] == [
        ("b2.w", 2, 0.5),
        ("h.w", 3, 1.0),
    ]
    assert [(item.name, item.reason, item.layer_id) for item in plan.skipped] == [
        ("b0.w", "frozen", 0),
        ("b1.w", "frozen", 1),
    ]


class _TiedNet(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Dense(4, 4)
        self.body = nn.Dense(4, 4)
        self.head = nn.Dense(4, 4)
        self.head.weight = self.embed.weight


def test_tied_parameter_grouped_once() -> None:
    rules = _rules(
        "rules:\n"
        "  - {pattern: 'embed\\.', layer: 0}\n"
        "  - {pattern: 'body\\.', layer: 1}\n"
        "  - {pattern: 'head\\.', layer: head}\n"
    )
    net = _TiedNet()

    plan = make_plan(rules, records_from_cell(net))

    grouped = [name for group in plan.groups for name in group.params]
    assert "embed.weight" in grouped
    assert "head.weight" not in grouped
    assert len(grouped) == len(net.trainable_params()) == 5
    shared = [item for item in plan.skipped if item.reason == "shared"]
    assert [(item.name, item.shared_with) for item in shared] == [("head.weight", "embed.weight")]
    assert plan.summary().splitlines()[-1] == "skipped: 0 frozen, 1 shared alias(es)"
    out = build_groups(plan, net, 0.1)
    # MindSpore raises for a parameter given in two groups.
    nn.SGD(out.groups, learning_rate=out.learning_rate)


class BaseNorm(nn.Cell):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = Parameter(Tensor(np.ones((channels, 2, 2), np.float32)), name="scale")
        self.shift = Parameter(Tensor(np.zeros((channels, 2, 2), np.float32)), name="shift")


class ChannelNorm(BaseNorm):
    pass


class _NormNet(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, has_bias=False)
        self.norm = ChannelNorm(4)
        self.fc = nn.Dense(16, 2, has_bias=False)


def test_user_norm_through_class_hierarchy() -> None:
    rules = _rules(
        "rules:\n  - {pattern: '.*', layer: 1}\nno_weight_decay:\n  cell_types: [BaseNorm]\n"
    )

    plan = make_plan(rules, records_from_cell(_NormNet()))

    assert plan.assignment("norm.scale").shape == (4, 2, 2)
    assert plan.assignment("norm.scale").weight_decay == 0.0
    assert plan.assignment("norm.shift").weight_decay == 0.0
    assert plan.assignment("conv.weight").weight_decay == 0.1
    assert plan.assignment("fc.weight").weight_decay == 0.1


def test_spatial_norm_by_name_pattern() -> None:
    rules = _rules(
        "rules:\n  - {pattern: '.*', layer: 1}\n"
        "no_weight_decay:\n  names: ['norm\\.(?:scale|shift)$']\n  max_rank: 1\n"
    )

    plan = make_plan(rules, [ParamRecord("norm.scale", (4, 7, 7)), ParamRecord("fc.w", (4, 4))])

    assert plan.assignment("norm.scale").weight_decay == 0.0
    assert plan.assignment("fc.w").weight_decay == 0.1


def test_expect_block_met() -> None:
    rules = _rules(
        "rules:\n  - {pattern: '.*', layer: head}\nno_weight_decay: {max_rank: 1}\n"
        "expect: {parameters: 2, layer_ids: 1, groups: 2, no_weight_decay: 1}\n"
    )

    plan = make_plan(rules, [ParamRecord("w", (2, 2)), ParamRecord("b", (2,))])

    assert len(plan.groups) == 2


def test_expect_block_failure_lists_each_key() -> None:
    rules = _rules(
        "rules:\n  - {pattern: '.*', layer: head}\n"
        "expect:\n  parameters: 3\n  layer_ids: 1\n  groups: 5\n"
    )

    with pytest.raises(ExpectationError) as caught:
        make_plan(rules, [ParamRecord("w", (2, 2)), ParamRecord("b", (2,))])

    assert caught.value.failures == (
        "expect.parameters is 3 (e.yaml:9:15), but the plan has 2",
        "expect.groups is 5 (e.yaml:11:11), but the plan has 1",
    )
    assert str(caught.value) == (
        "e.yaml: the plan does not meet the rule file's expect block:\n"
        "  expect.parameters is 3 (e.yaml:9:15), but the plan has 2\n"
        "  expect.groups is 5 (e.yaml:11:11), but the plan has 1\n"
        "  Hint: the network's parameter names may have changed; run `grouprules explain` to "
        "see the groups, then fix the rules or the expect block. For another configuration "
        "of the same architecture, skip the block with --no-expect (check_expect=False in "
        "Python)."
    )


def test_expect_check_can_be_skipped() -> None:
    rules = _rules("rules:\n  - {pattern: '.*', layer: head}\nexpect: {parameters: 9}\n")

    plan = make_plan(rules, _records("w"), check_expect=False)

    assert len(plan.assignments) == 1


def test_groups_head_first_decay_first() -> None:
    rules = _rules(
        "rules:\n"
        "  - {pattern: 'b(?P<i>\\d+)\\.', layer: i}\n"
        "  - {pattern: 'h\\.', layer: head}\n"
        "no_weight_decay: {max_rank: 1}\n"
    )
    records = [
        ParamRecord("b0.w", (2, 2)),
        ParamRecord("b0.b", (2,)),
        ParamRecord("b2.b", (2,)),
        ParamRecord("h.w", (2, 2)),
        ParamRecord("h.b", (2,)),
    ]

    plan = make_plan(rules, records)

    assert [group.name for group in plan.groups] == [
        "layer_3_decay",
        "layer_3_no_decay",
        "layer_2_no_decay",
        "layer_0_decay",
        "layer_0_no_decay",
    ]
    assert [group.numel for group in plan.groups] == [4, 2, 2, 4, 2]


def test_multipliers_make_separate_groups() -> None:
    rules = _rules(
        "rules:\n"
        "  - {pattern: 'a', layer: 1, lr_mult: 1.0000001}\n"
        "  - {pattern: 'b', layer: 1, lr_mult: 1.0000002}\n"
        "  - {pattern: 'c', layer: 1, lr_mult: 2, wd_mult: 0.5}\n"
        "  - {pattern: 'd', layer: 1}\n"
    )

    plan = make_plan(rules, _records("a", "b", "c", "d"))

    by_name = {group.name: group for group in plan.groups}
    assert sorted(by_name) == [
        "layer_1_decay",
        "layer_1_decay_lrx1.0000001",
        "layer_1_decay_lrx1.0000002",
        "layer_1_decay_lrx2_wdx0.5",
    ]
    assert by_name["layer_1_decay_lrx1.0000002"].params == ("b",)
    assert by_name["layer_1_decay_lrx2_wdx0.5"].weight_decay == pytest.approx(0.05)
    assert by_name["layer_1_decay_lrx2_wdx0.5"].lr_factor == pytest.approx(0.25 * 2)


def test_overrides_apply() -> None:
    rules = _rules("rules:\n  - {pattern: 'a', layer: 0}\n  - {pattern: 'h', layer: head}\n")

    plan = make_plan(rules, _records("a", "h"), layer_decay=0.9, weight_decay=0.3)

    assert plan.assignment("a").lr_scale == pytest.approx(0.9**3)
    assert plan.assignment("a").weight_decay == 0.3
    assert (plan.layer_decay, plan.weight_decay) == (0.9, 0.3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"layer_decay": 0.0}, "layer_decay must be in (0, 1], got 0.0"),
        ({"layer_decay": 1.5}, "layer_decay must be in (0, 1], got 1.5"),
        ({"layer_decay": float("nan")}, "layer_decay must be in (0, 1], got nan"),
        ({"weight_decay": -0.1}, "weight_decay must be finite and >= 0, got -0.1"),
        ({"weight_decay": float("inf")}, "weight_decay must be finite and >= 0, got inf"),
        ({"weight_decay": float("nan")}, "weight_decay must be finite and >= 0, got nan"),
    ],
)
def test_bad_overrides_rejected(overrides: dict[str, float], message: str) -> None:
    rules = _rules("rules:\n  - {pattern: '.*', layer: 0}\n")

    with pytest.raises(ArgumentError) as caught:
        make_plan(rules, _records("a"), **overrides)  # type: ignore[arg-type]

    assert str(caught.value) == message


def test_duplicate_record_names_rejected() -> None:
    rules = _rules("rules:\n  - {pattern: '.*', layer: 0}\n")

    with pytest.raises(ParameterRecordError) as caught:
        make_plan(rules, _records("a", "a"))

    assert str(caught.value) == (
        "parameter name 'a' appears twice in the records.\n"
        "  Hint: names must be unique; give a shared parameter one record per name, each with "
        "the same identity."
    )


def test_negative_size_rejected() -> None:
    rules = _rules("rules:\n  - {pattern: '.*', layer: 0}\n")

    with pytest.raises(ParameterRecordError) as caught:
        make_plan(rules, [ParamRecord("a", (2, -1))])

    assert str(caught.value).startswith("parameter 'a' has shape (2, -1), with a negative size.")


def test_plan_is_deterministic() -> None:
    rules = _rules(
        "rules:\n  - {pattern: 'b(?P<i>\\d+)', layer: 'min(i, 3)'}\n"
        "no_weight_decay: {max_rank: 1}\n"
    )
    records = [ParamRecord(f"b{index}", (2,) * (index % 3)) for index in range(8)]

    assert make_plan(rules, records) == make_plan(rules, list(records))
