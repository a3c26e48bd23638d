"""Tests for the warnings about a valid grouping that is probably not what was meant."""

from __future__ import annotations

import pytest

from grouprules import Finding, ParamRecord, Plan, loads_rules, make_plan

HEADER = "schema_version: 1\nname: t\nnum_layers: 3\nlayer_decay: 0.5\nweight_decay: 0.1\n"


def _plan(body: str, records: list[ParamRecord]) -> Plan:
    return make_plan(loads_rules(HEADER + body, source="f.yaml"), records)


def _only(plan: Plan, code: str) -> Finding:
    found = [finding for finding in plan.findings if finding.code == code]
    assert len(found) == 1, plan.findings
    return found[0]


_LAYERED = (
    "rules:\n"
    "  - {pattern: 'b(?P<i>\\d+)\\.', layer: i}\n"
    "  - {pattern: 'h\\.', layer: head}\n"
    "no_weight_decay: {max_rank: 1}\n"
)


def test_clean_plan_has_no_findings() -> None:
    records = [ParamRecord(f"b{i}.w", (2, 2)) for i in range(4)] + [ParamRecord("h.w", (2, 2))]

    assert _plan(_LAYERED, records).findings == ()


def test_layer_gap() -> None:
    records = [ParamRecord("b0.w", (2, 2)), ParamRecord("b3.w", (2, 2)), ParamRecord("h.w", (2, 2))]

    finding = _only(_plan(_LAYERED, records), "layer-gap")

    assert finding.format() == (
        "f.yaml:3:13: warning [layer-gap]: num_layers: layer id(s) 1..2 hold no trainable "
        "parameter between used ids 0 and 4, so the layers above skip a decay step\n"
        "  Hint: check for an off-by-one in the layer of the head or of the last block, or "
        "lower num_layers"
    )


def test_empty_head() -> None:
    records = [ParamRecord(f"b{i}.w", (2, 2)) for i in range(3)]

    finding = _only(_plan(_LAYERED, records), "empty-head")

    assert finding.message == (
        "no trainable parameter has the head id 4 (num_layers + 1), so no group gets lr_scale "
        "1.0; the highest id used is 2"
    )
    assert finding.hint == "set num_layers to 1 or map the head to `layer: head`"
    assert finding.trail == "num_layers"


def test_frozen_layers_not_gaps() -> None:
    records = [
        ParamRecord("b0.w", (2, 2)),
        ParamRecord("b1.w", (2, 2), trainable=False),
        ParamRecord("b2.w", (2, 2), trainable=False),
        ParamRecord("b3.w", (2, 2)),
        ParamRecord("h.w", (2, 2)),
    ]

    plan = _plan(_LAYERED, records)

    assert [finding.code for finding in plan.findings] == ["frozen-layers"]
    finding = plan.findings[0]
    assert finding.message == (
        "layer id(s) 1..2 contributed no trainable parameter: all their parameters are frozen"
    )
    assert finding.hint == (
        "this is expected when a backbone is frozen; no group is emitted for them"
    )


def test_unused_rule() -> None:
    plan = _plan(
        "rules:\n"
        "  - {name: all, pattern: '.*', layer: 1}\n"
        "  - {name: late, pattern: 'h\\.', layer: head}\n"
        "  - {name: ghost, pattern: 'g\\.', layer: 2}\n",
        [ParamRecord("h.w", (2, 2)), ParamRecord("g.w", (2, 2), trainable=False)],
    )

    unused = [finding for finding in plan.findings if finding.code == "unused-rule"]

    assert [finding.message for finding in unused] == [
        "rule late ('h\\.') places no parameter",
        "rule ghost ('g\\.') places no parameter",
    ]
    assert unused[0].location == "f.yaml:8:27"
    assert unused[0].hint == "an earlier rule may match first, or the module was renamed"


def test_rule_matching_only_frozen() -> None:
    plan = _plan(
        "rules:\n  - {pattern: 'b\\.', layer: 1}\n  - {pattern: 'h\\.', layer: head}\n",
        [ParamRecord("b.w", (2, 2), trainable=False), ParamRecord("h.w", (2, 2))],
    )

    finding = _only(plan, "unused-rule")

    assert finding.message == "rule rules[0] ('b\\.') places only frozen parameters"


def test_unused_no_decay_pattern() -> None:
    plan = _plan(
        "rules:\n  - {pattern: '.*', layer: head}\n"
        "no_weight_decay:\n  names: ['\\.bias$', 'pos_embed', 'LayerNorm\\.weight']\n",
        [ParamRecord("w", (2, 2)), ParamRecord("x.bias", (2,))],
    )

    unused = [finding for finding in plan.findings if finding.code == "unused-no-decay-pattern"]

    assert [(finding.trail, finding.location) for finding in unused] == [
        ("no_weight_decay.names[1]", "f.yaml:9:22"),
        ("no_weight_decay.names[2]", "f.yaml:9:35"),
    ]
    assert unused[0].hint == "check the spelling against `grouprules explain --format json`"
    assert unused[1].hint == (
        "MindSpore names norm parameters gamma and beta, not weight and bias; check the "
        "spelling against `grouprules explain --format json`"
    )


def test_unused_cell_type() -> None:
    plan = _plan(
        "rules:\n  - {pattern: '.*', layer: head}\nno_weight_decay:\n"
        "  cell_types: [LayerNorm, RMSNorm]\n",
        [ParamRecord("n.gamma", (2,), ("LayerNorm", "Cell")), ParamRecord("w", (2, 2), ("Dense",))],
    )

    finding = _only(plan, "unused-no-decay-cell-type")

    assert finding.trail == "no_weight_decay.cell_types[1]"
    assert finding.message == (
        "no trainable parameter is owned by a cell of class 'RMSNorm' or of a subclass of it"
    )
    assert finding.hint == (
        "check the class name's spelling and case; norm classes owning parameters here: LayerNorm"
    )


def test_cell_types_without_owner_types() -> None:
    plan = _plan(
        "rules:\n  - {pattern: '.*', layer: head}\nno_weight_decay:\n  cell_types: [LayerNorm]\n",
        [ParamRecord("norm.gamma", (2, 3, 3))],
    )

    finding = _only(plan, "no-owner-types")

    assert finding.message == (
        "no_weight_decay.cell_types is set, but the input carries no owning cell types (a "
        "parameter dump or a checkpoint), so that test exempts nothing"
    )
    assert "unused-no-decay-cell-type" not in [f.code for f in plan.findings]


def test_decayed_low_rank_and_norm() -> None:
    plan = _plan(
        "rules:\n  - {pattern: '.*', layer: head}\n",
        [
            ParamRecord("fc.weight", (2, 2), ("Dense", "Cell")),
            ParamRecord("fc.bias", (2,), ("Dense", "Cell")),
            ParamRecord("ln.gamma", (2, 3, 3), ("LayerNorm", "Cell")),
            ParamRecord("scalar", ()),
        ],
    )

    low_rank = _only(plan, "decayed-low-rank")
    norm = _only(plan, "decayed-norm")

    assert low_rank.message == "2 parameter(s) of rank 0 or 1 still get weight decay"
    assert low_rank.names == ("fc.bias", "scalar")
    assert norm.message == "1 norm parameter(s) still get weight decay"
    assert norm.names == ("ln.gamma",)


_CELL_TYPES_FIX = (
    "add their cell classes (LayerNorm) to no_weight_decay.cell_types or their names to "
    "no_weight_decay.names"
)
_NO_OWNER_TYPES_FIX = (
    "the input (a parameter dump or a checkpoint) carries no cell types, so "
    "no_weight_decay.cell_types cannot exempt them; add their names to no_weight_decay.names, "
    "or evaluate the live network (--model)"
)
_HIGH_RANK_NOTE = (
    "; max_rank: 1 misses the 1 of rank 2 or more, such as the scale of a LayerNorm over (C, H, W)"
)


@pytest.mark.parametrize(
    ("record", "hint"),
    [
        (ParamRecord("ln.gamma", (4,), ("LayerNorm", "Cell")), _CELL_TYPES_FIX),
        (
            ParamRecord("ln.gamma", (4, 3, 3), ("LayerNorm", "Cell")),
            _CELL_TYPES_FIX + _HIGH_RANK_NOTE,
        ),
        (ParamRecord("blocks.0.norm.gamma", (4,)), _NO_OWNER_TYPES_FIX),
        (ParamRecord("blocks.0.norm.gamma", (4, 3, 3)), _NO_OWNER_TYPES_FIX + _HIGH_RANK_NOTE),
    ],
)
def test_decayed_norm_hint_fits_case(record: ParamRecord, hint: str) -> None:
    plan = _plan("rules:\n  - {pattern: '.*', layer: head}\n", [record])

    assert _only(plan, "decayed-norm").hint == hint


@pytest.mark.parametrize(
    ("name", "is_norm"),
    [
        ("blocks.0.norm1.weight", True),
        ("encoder.LayerNorm.gamma", True),
        ("bn1.weight", True),
        ("layers.0.ln_2.weight", True),
        ("layers.0.input_layernorm.weight", True),
        ("blocks.0.attn.proj.weight", False),
        ("final_layer_norm.bias", True),
        ("blocks.0.norm_out.weight", True),
        ("ln_f.weight", True),
        ("enormous.weight", False),
        ("normal.weight", False),
    ],
)
def test_norm_detected_by_name_without_owner(name: str, is_norm: bool) -> None:
    plan = _plan("rules:\n  - {pattern: '.*', layer: head}\n", [ParamRecord(name, (2, 2))])

    codes = [finding.code for finding in plan.findings]

    assert ("decayed-norm" in codes) is is_norm


def test_zero_weight_decay_not_reported() -> None:
    rules = loads_rules(HEADER + "rules:\n  - {pattern: '.*', layer: head}\n")

    plan = make_plan(rules, [ParamRecord("ln.gamma", (2,), ("LayerNorm",))], weight_decay=0.0)

    assert plan.findings == ()


def test_finding_lists_names_with_count() -> None:
    finding = Finding("decayed-norm", "m", names=tuple(f"p{i}" for i in range(23)))

    lines = finding.format().splitlines()

    assert lines[0] == "warning [decayed-norm]: m"
    assert lines[20] == "  p19"
    assert lines[21] == "  ... and 3 more"


def test_finding_to_dict() -> None:
    finding = Finding("layer-gap", "msg", "num_layers", "f.yaml:3:13", "fix", ("a",))

    assert finding.to_dict() == {
        "code": "layer-gap",
        "message": "msg",
        "trail": "num_layers",
        "location": "f.yaml:3:13",
        "hint": "fix",
        "names": ["a"],
    }
