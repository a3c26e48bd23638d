"""Tests for the plan: lookups, the logged summary and the plain-data form."""

from __future__ import annotations

import json

import pytest

from grouprules import ArgumentError, ParamRecord, Plan, loads_rules, make_plan

_RULES = """
schema_version: 1
name: plan
num_layers: 2
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {name: embed, pattern: 'embed\\.', layer: 0}
  - {name: blocks, pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: i + 1}
  - {name: head, pattern: 'head\\.', layer: head, lr_mult: 2}
no_weight_decay: {max_rank: 1}
"""


@pytest.fixture
def plan() -> Plan:
    records = [
        ParamRecord("embed.weight", (10, 4)),
        ParamRecord("blocks.0.weight", (4, 4)),
        ParamRecord("blocks.0.bias", (4,)),
        ParamRecord("blocks.1.weight", (4, 4), trainable=False),
        ParamRecord("head.weight", (2, 4), identity="tied"),
        ParamRecord("head.bias", (2,)),
        ParamRecord("head.alias", (2, 4), identity="tied"),
    ]
    return make_plan(loads_rules(_RULES, source="p.yaml"), records)


def test_layer_ids_and_head(plan: Plan) -> None:
    assert plan.layer_ids == (0, 1, 3)
    assert plan.head_id == 3
    assert plan.frozen == ("blocks.1.weight",)


def test_assignment_lookup(plan: Plan) -> None:
    assignment = plan.assignment("head.weight")

    assert assignment.layer_id == 3
    assert assignment.lr_scale == 1.0
    assert assignment.lr_factor == 2.0
    assert assignment.group == "layer_3_decay_lrx2"
    assert assignment.layer_rule == "head"
    assert assignment.decay_rule == "default"


def test_assignment_of_skipped_raises(plan: Plan) -> None:
    with pytest.raises(KeyError) as caught:
        plan.assignment("head.alias")

    assert caught.value.args[0] == "parameter 'head.alias' is not in the plan"


def test_lr_range(plan: Plan) -> None:
    smallest, largest = plan.lr_range()

    assert (smallest.layer_id, smallest.lr_factor) == (0, 0.125)
    assert (largest.layer_id, largest.lr_factor) == (3, 2.0)


def test_summary_with_base_lr(plan: Plan) -> None:
    assert plan.summary(0.001) == (
        "grouprules: 5 parameters in 5 groups, layer ids 0..3 (p.yaml)\n"
        "base lr 0.001; smallest group lr 0.000125 (layer 0); largest 0.002 (layer 3)\n"
        "skipped: 1 frozen, 1 shared alias(es)"
    )


def test_summary_without_base_lr(plan: Plan) -> None:
    assert plan.summary().splitlines()[1] == (
        "lr factor from 0.125 (layer 0) to 2 (layer 3) of the base lr"
    )


def test_summary_accepts_numpy_scalar(plan: Plan) -> None:
    import numpy as np

    assert plan.summary(np.float32(0.001)) == plan.summary(0.001)
    assert plan.summary(np.int64(1)).splitlines()[1] == (
        "base lr 1; smallest group lr 0.125 (layer 0); largest 2 (layer 3)"
    )


_SUMMARY_HINT = (
    "  Hint: for a learning-rate schedule, pass its value at one step as a float, or call "
    "summary() without it to report lr factors; after build_groups(), "
    "OptimizerGroups.lr_at(name, step) from grouprules.mindspore returns a group's lr at a step."
)


def test_summary_rejects_schedule(plan: Plan) -> None:
    from mindspore import nn

    schedule = nn.PolynomialDecayLR(0.1, 0.01, decay_steps=10, power=1.0)

    with pytest.raises(ArgumentError) as caught:
        plan.summary(schedule)  # type: ignore[arg-type]

    assert str(caught.value) == (
        "Plan.summary() takes the base lr as a number, not a PolynomialDecayLR.\n" + _SUMMARY_HINT
    )


@pytest.mark.parametrize(("value", "kind"), [(True, "bool"), ("1e-3", "str"), (1j, "complex")])
def test_summary_rejects_non_number(plan: Plan, value: object, kind: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        plan.summary(value)  # type: ignore[arg-type]

    assert str(caught.value).splitlines()[0] == (
        f"Plan.summary() takes the base lr as a number, not a {kind}."
    )


def test_to_dict_is_json(plan: Plan) -> None:
    data = json.loads(json.dumps(plan.to_dict()))

    assert data["source"] == "p.yaml"
    assert [group["name"] for group in data["groups"]] == [
        "layer_3_decay_lrx2",
        "layer_3_no_decay_lrx2",
        "layer_1_decay",
        "layer_1_no_decay",
        "layer_0_decay",
    ]
    assert data["groups"][0] == {
        "name": "layer_3_decay_lrx2",
        "layer_id": 3,
        "lr_scale": 1.0,
        "lr_mult": 2.0,
        "weight_decay": 0.05,
        "decay": True,
        "params": 1,
        "numel": 8,
    }
    assert data["parameters"][2] == {
        "name": "blocks.0.bias",
        "shape": [4],
        "layer_id": 1,
        "lr_scale": 0.25,
        "lr_mult": 1.0,
        "weight_decay": 0.0,
        "group": "layer_1_no_decay",
        "rule": "blocks",
        "decay_rule": "no_weight_decay.max_rank",
    }
    assert data["skipped"] == [
        {"name": "blocks.1.weight", "reason": "frozen", "layer_id": 2, "shared_with": None},
        {"name": "head.alias", "reason": "shared", "layer_id": None, "shared_with": "head.weight"},
    ]
    assert data["rule_matches"] == [1, 2, 2]
    assert data["findings"] == [
        {
            "code": "frozen-layers",
            "message": "layer id(s) 2 contributed no trainable parameter: all their parameters "
            "are frozen",
            "trail": "",
            "location": "",
            "hint": "this is expected when a backbone is frozen; no group is emitted for them",
            "names": [],
        }
    ]


def test_groups_partition_parameters(plan: Plan) -> None:
    grouped = [name for group in plan.groups for name in group.params]

    assert sorted(grouped) == sorted(a.name for a in plan.assignments)
    assert len(grouped) == len(set(grouped))
