"""The convnext_single pack against ConvNeXt-V2's "single" recipe, in the example naming.

The network is examples/convnext.py at depths 3-3-27-3 with narrow channels, which
has the parameter names of ConvNeXt-Base; the real ConvNeXt-Base dump is checked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.convnext import ConvNeXt
from grouprules import load_rules, make_plan, read_dump
from grouprules.cli import main
from grouprules.cli.explain import render_text
from grouprules.mindspore import records_from_cell
from grouprules.plan import Plan
from grouprules.records import ParamRecord

DUMP_PATH = Path(__file__).resolve().parents[1] / "examples" / "convnext_base_params.txt"
DEPTHS = (3, 3, 27, 3)


def narrow_convnext_base() -> ConvNeXt:
    """ConvNeXt-Base names and depths at 8 channels and 32x32 inputs, cheap to build."""
    return ConvNeXt(depths=DEPTHS, dims=(8, 8, 8, 8), image_size=32, num_classes=10)


def _official_name(name: str) -> str:
    """Translate an example-naming parameter to the official ConvNeXt module names.

    start_cell is downsample_layers.0 and block1 is stages.0; down_sample_blocks.<2k>
    is downsample_layers.<k + 1> and down_sample_blocks.<2k + 1> is stages.<k + 1>.
    The neck norm and the head keep names outside both, as the official norm and head.
    """
    parts = name.split(".")
    if parts[:2] == ["backbone", "start_cell"]:
        return ".".join(["downsample_layers", "0", *parts[2:]])
    if parts[:2] == ["backbone", "block1"]:
        return ".".join(["stages", "0", *parts[2:]])
    if parts[:2] == ["backbone", "down_sample_blocks"]:
        index = int(parts[2])
        cell = "downsample_layers" if index % 2 == 0 else "stages"
        return ".".join([cell, str(index // 2 + 1), *parts[3:]])
    return name


def single_recipe(records: list[ParamRecord]) -> dict[str, tuple[int, float, float]]:
    """Return (layer_id, lr_scale, weight_decay) per parameter, from ConvNeXt-V2's definitions.

    get_num_layer_for_convnext_single gives downsample s the id sum(depths[:s]) + 1,
    block b of stage s sum(depths[:s]) + b + 1 and the rest sum(depths) + 1;
    main_finetune.py sets num_layers = sum(depths) and scales id i by
    layer_decay ** (num_layers + 1 - i); get_parameter_groups exempts rank-1
    parameters and names ending in .bias, .gamma or .beta. layer_decay 0.9 and
    weight_decay 0.05 are the V2-Tiny "single" values.
    """
    layer_decay, weight_decay, num_layers = 0.9, 0.05, sum(DEPTHS)
    expected = {}
    for record in records:
        parts = _official_name(record.name).split(".")
        if parts[0] == "downsample_layers":
            layer_id = sum(DEPTHS[: int(parts[1])]) + 1
        elif parts[0] == "stages":
            layer_id = sum(DEPTHS[: int(parts[1])]) + int(parts[2]) + 1
        else:
            layer_id = num_layers + 1
        exempt = len(record.shape) == 1 or record.name.endswith((".bias", ".gamma", ".beta"))
        scale = float(layer_decay ** (num_layers + 1 - layer_id))
        expected[record.name] = (layer_id, scale, 0.0 if exempt else weight_decay)
    return expected


def _column(values: dict[str, tuple[int, float, float]], index: int) -> dict[str, float]:
    return {name: triple[index] for name, triple in values.items()}


def _plan_values(plan: Plan) -> dict[str, tuple[int, float, float]]:
    return {
        item.name: (item.layer_id, item.lr_scale, item.weight_decay) for item in plan.assignments
    }


@pytest.fixture(scope="module")
def net_records() -> list[ParamRecord]:
    return records_from_cell(narrow_convnext_base())


@pytest.fixture(scope="module")
def dump_records() -> list[ParamRecord]:
    return read_dump(DUMP_PATH)


def test_narrow_network_has_base_names(
    net_records: list[ParamRecord], dump_records: list[ParamRecord]
) -> None:
    assert [record.name for record in net_records] == [record.name for record in dump_records]


SOURCES = ["net_records", "dump_records"]


@pytest.mark.parametrize("source", SOURCES)
def test_single_pack_layer_ids_match_recipe(source: str, request: pytest.FixtureRequest) -> None:
    records = request.getfixturevalue(source)
    plan = make_plan(load_rules("convnext_single"), records)
    assert _column(_plan_values(plan), 0) == _column(single_recipe(records), 0)


@pytest.mark.parametrize("source", SOURCES)
def test_single_pack_lr_scales_match_recipe(source: str, request: pytest.FixtureRequest) -> None:
    records = request.getfixturevalue(source)
    plan = make_plan(load_rules("convnext_single"), records)
    assert _column(_plan_values(plan), 1) == pytest.approx(_column(single_recipe(records), 1))


@pytest.mark.parametrize("source", SOURCES)
def test_single_pack_weight_decay_matches_recipe(
    source: str, request: pytest.FixtureRequest
) -> None:
    records = request.getfixturevalue(source)
    plan = make_plan(load_rules("convnext_single"), records)
    assert _column(_plan_values(plan), 2) == _column(single_recipe(records), 2)


def test_single_pack_exempts_spatial_norm_scales(dump_records: list[ParamRecord]) -> None:
    plan = make_plan(load_rules("convnext_single"), dump_records)
    norm = plan.assignment("backbone.down_sample_blocks.3.0.layer_norm.gamma")
    assert norm.shape == (512, 14, 14)
    assert norm.weight_decay == 0.0
    assert norm.layer_id == 7


def test_single_pack_stem_shares_first_block_id(dump_records: list[ParamRecord]) -> None:
    plan = make_plan(load_rules("convnext_single"), dump_records)
    assert plan.assignment("backbone.start_cell.0.weight").layer_id == 1
    assert plan.assignment("backbone.block1.0.dwconv.weight").layer_id == 1
    assert plan.layer_ids == tuple(range(1, 38))


def test_single_pack_plan_has_no_findings(net_records: list[ParamRecord]) -> None:
    plan = make_plan(load_rules("convnext_single"), net_records)
    assert [finding.format() for finding in plan.findings] == []


def test_single_pack_validates_strictly(capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{__name__}:narrow_convnext_base"
    code = main(["validate", "--strict", "convnext_single", "--model", spec])
    output = capsys.readouterr().out
    assert code == 0, output
    assert output.endswith("1 file(s) checked: no problems\n")


def test_doc_page_shows_current_groups(dump_records: list[ParamRecord]) -> None:
    plan = make_plan(load_rules("convnext_single"), dump_records)
    lines = render_text(plan).splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("group "))
    table = "\n".join(lines[start : lines.index("", start)])
    page = DUMP_PATH.parents[1] / "docs" / "rules" / "convnext_single.md"
    stale = "docs/rules/convnext_single.md is stale: run python docs/rules/refresh.py"
    assert table in page.read_text(encoding="utf-8"), stale
