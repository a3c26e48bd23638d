"""Parity of the MindCV rule packs with the recipes they reproduce, on real MindCV networks.

Each recipe's layer id, lr scale and weight-decay rule is written out below from
its published definition and applied to the network's own parameter names, with
MindCV's module names translated to the names the recipe was written for. The
pack's plan must agree with it on every trainable parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

mindcv = pytest.importorskip("mindcv", reason="the MindCV rule packs are checked on MindCV models")

from grouprules import load_rules, make_plan  # noqa: E402
from grouprules.cli import main  # noqa: E402
from grouprules.cli.explain import render_text  # noqa: E402
from grouprules.mindspore import records_from_cell  # noqa: E402
from grouprules.plan import Plan  # noqa: E402
from grouprules.records import ParamRecord  # noqa: E402


@dataclass(frozen=True)
class Expected:
    """What a recipe gives one parameter."""

    layer_id: int
    lr_scale: float
    weight_decay: float


# A recipe maps (records, network) to the expected assignment of each trainable parameter.
Recipe = Callable[[list[ParamRecord], Any], dict[str, Expected]]

# Networks built by cached_network(), by MindCV model name. The validate tests pass
# cached_network to --model, so the command line reuses them instead of building again.
_NETWORKS: dict[str, Any] = {}


def cached_network(model: str) -> Any:
    """Return the MindCV network ``model``, built once per test session."""
    if model not in _NETWORKS:
        _NETWORKS[model] = mindcv.create_model(model, pretrained=False)
    return _NETWORKS[model]


def _scale(layer_decay: float, num_layers: int, layer_id: int) -> float:
    # Every recipe here scales layer i by layer_decay ** (num_layers + 1 - i), where the
    # head is num_layers + 1. Each recipe function states its own num_layers.
    return float(layer_decay ** (num_layers + 1 - layer_id))


# --- ConvNeXt and ConvNeXt-V2 (facebookresearch/ConvNeXt and ConvNeXt-V2, optim_factory.py) ---


def _official_convnext_name(name: str) -> str:
    """Translate a MindCV ConvNeXt name to the official repository's module names.

    MindCV's feature.<2s> is the official downsample_layers.<s> (the stem is s = 0)
    and feature.<2s+1> is stages.<s>. The classifier is the official head.
    """
    parts = name.split(".")
    if parts[0] == "feature":
        index = int(parts[1])
        cell = "downsample_layers" if index % 2 == 0 else "stages"
        return ".".join([cell, str(index // 2), *parts[2:]])
    if parts[0] == "classifier":
        return ".".join(["head", *parts[1:]])
    return name


def _convnext_group_layer_id(official_name: str) -> int:
    # get_num_layer_for_convnext: 12 groups over depths 3-3-27-3, the rest at 13.
    parts = official_name.split(".")
    if parts[0] == "downsample_layers":
        stage = int(parts[1])
        return {0: 0, 1: 2, 2: 3, 3: 12}[stage]
    if parts[0] == "stages":
        stage, block = int(parts[1]), int(parts[2])
        if stage < 2:
            return stage + 1
        return 3 + block // 3 if stage == 2 else 12
    return 13


def _convnext_single_layer_id(official_name: str, depths: tuple[int, ...]) -> int:
    # get_num_layer_for_convnext_single: one id per block, downsample s at the first block of s.
    parts = official_name.split(".")
    if parts[0] == "downsample_layers":
        return sum(depths[: int(parts[1])]) + 1
    if parts[0] == "stages":
        return sum(depths[: int(parts[1])]) + int(parts[2]) + 1
    return sum(depths) + 1


def _convnext_v1_decays(official_name: str, shape: tuple[int, ...]) -> bool:
    # ConvNeXt's get_parameter_groups, with an empty skip list (the model defines none).
    return not (len(shape) == 1 or official_name.endswith(".bias"))


def _convnext_v2_decays(official_name: str, shape: tuple[int, ...]) -> bool:
    # ConvNeXt-V2's get_parameter_groups adds every name ending in .gamma or .beta.
    exempt = len(shape) == 1 or official_name.endswith((".bias", ".gamma", ".beta"))
    return not exempt


def convnext_group_recipe(records: list[ParamRecord], net: Any) -> dict[str, Expected]:
    """ConvNeXt fine-tuning from ImageNet-22K: layer_decay 0.8, weight_decay 1e-8."""
    layer_decay, weight_decay, num_layers = 0.8, 1e-8, 12
    expected = {}
    for record in records:
        official = _official_convnext_name(record.name)
        layer_id = _convnext_group_layer_id(official)
        decays = _convnext_v1_decays(official, record.shape)
        expected[record.name] = Expected(
            layer_id,
            _scale(layer_decay, num_layers, layer_id),
            weight_decay if decays else 0.0,
        )
    return expected


def _convnext_single_recipe(
    records: list[ParamRecord], depths: tuple[int, ...]
) -> dict[str, Expected]:
    # ConvNeXt-V2 "single" fine-tuning of V2-Tiny: layer_decay 0.9, weight_decay 0.05,
    # and num_layers = sum(depths).
    layer_decay, weight_decay, num_layers = 0.9, 0.05, sum(depths)
    expected = {}
    for record in records:
        official = _official_convnext_name(record.name)
        layer_id = _convnext_single_layer_id(official, depths)
        decays = _convnext_v2_decays(official, record.shape)
        expected[record.name] = Expected(
            layer_id,
            _scale(layer_decay, num_layers, layer_id),
            weight_decay if decays else 0.0,
        )
    return expected


def convnext_single_recipe(records: list[ParamRecord], net: Any) -> dict[str, Expected]:
    """The single strategy on MindCV convnext_small, depths 3-3-27-3."""
    return _convnext_single_recipe(records, (3, 3, 27, 3))


def convnextv2_tiny_recipe(records: list[ParamRecord], net: Any) -> dict[str, Expected]:
    """The single strategy on MindCV convnextv2_tiny, depths 3-3-9-3."""
    return _convnext_single_recipe(records, (3, 3, 9, 3))


# --- ViT (facebookresearch/mae, util/lr_decay.py) ---


def vit_recipe(records: list[ParamRecord], net: Any) -> dict[str, Expected]:
    """MAE fine-tuning of ViT-Base: layer_decay 0.65, weight_decay 0.05.

    MAE counts num_layers = len(blocks) + 1 and scales id i by
    layer_decay ** (num_layers - i), which is _scale with depth as num_layers.
    """
    layer_decay, weight_decay = 0.65, 0.05
    depth = len(net.blocks)
    no_decay_names = net.no_weight_decay()
    expected = {}
    for record in records:
        name = record.name
        if name in ("cls_token", "pos_embed") or name.startswith("patch_embed"):
            layer_id = 0
        elif name.startswith("blocks"):
            layer_id = int(name.split(".")[1]) + 1
        else:
            layer_id = depth + 1
        decays = not (len(record.shape) == 1 or name in no_decay_names)
        expected[name] = Expected(
            layer_id,
            _scale(layer_decay, depth, layer_id),
            weight_decay if decays else 0.0,
        )
    return expected


# --- Swin (microsoft/SimMIM, optimizer.py) ---


def swin_recipe(records: list[ParamRecord], net: Any) -> dict[str, Expected]:
    """SimMIM fine-tuning of Swin with depths 2-2-6-2: layer_decay 0.9, weight_decay 0.05.

    SimMIM's scales are layer_decay ** i for i in reversed(range(L + 2)) with
    L = sum(depths), so id i gets layer_decay ** (L + 1 - i).
    """
    layer_decay, weight_decay, depths = 0.9, 0.05, (2, 2, 6, 2)
    num_layers = sum(depths)
    skip = net.no_weight_decay()
    skip_keywords = net.no_weight_decay_keywords()
    expected = {}
    for record in records:
        name = record.name
        parts = name.split(".")
        if name == "mask_token" or name.startswith("patch_embed"):
            layer_id = 0
        elif parts[0] == "layers":
            stage, part = int(parts[1]), parts[3]
            if part in ("reduction", "norm"):
                layer_id = sum(depths[: stage + 1])
            else:
                layer_id = sum(depths[:stage]) + int(part) + 1
        else:
            layer_id = num_layers + 1
        exempt = (
            len(record.shape) == 1
            or name.endswith(".bias")
            or name in skip
            or any(keyword in name for keyword in skip_keywords)
        )
        expected[name] = Expected(
            layer_id,
            _scale(layer_decay, num_layers, layer_id),
            0.0 if exempt else weight_decay,
        )
    return expected


# --- ResNet (timm: ResNet.group_matcher(coarse=True) and param_groups_layer_decay) ---

_RESNET_COARSE_MATCHER = (
    (re.compile(r"^conv1|bn1|maxpool"), 0),
    (re.compile(r"^layer(\d+)"), 1),
)


def _timm_layer_map(names: list[str]) -> dict[str, int]:
    """Number the groups of timm's group_with_matcher: sort the ordinals, then count.

    A matched name gets the ordinal (group index, *captures); an unmatched one
    (the classifier) gets infinity, so it lands in the last group.
    """
    ordinals: dict[str, tuple[float, ...]] = {}
    for name in names:
        ordinal: tuple[float, ...] = (float("inf"),)
        for pattern, group_index in _RESNET_COARSE_MATCHER:
            match = pattern.match(name)
            if match:
                ordinal = (float(group_index), *(float(value) for value in match.groups()))
                break
        ordinals[name] = ordinal
    numbering = {ordinal: index for index, ordinal in enumerate(sorted(set(ordinals.values())))}
    return {name: numbering[ordinal] for name, ordinal in ordinals.items()}


def resnet_recipe(records: list[ParamRecord], net: Any) -> dict[str, Expected]:
    """timm's param_groups_layer_decay defaults: layer_decay 0.75, weight_decay 0.05.

    timm scales id i by layer_decay ** (layer_max - i) with layer_max the largest
    id, the head, so num_layers in _scale is layer_max - 1.
    """
    layer_decay, weight_decay = 0.75, 0.05
    layer_map = _timm_layer_map([record.name for record in records])
    layer_max = max(layer_map.values())
    expected = {}
    for record in records:
        layer_id = layer_map[record.name]
        decays = len(record.shape) > 1
        expected[record.name] = Expected(
            layer_id,
            _scale(layer_decay, layer_max - 1, layer_id),
            weight_decay if decays else 0.0,
        )
    return expected


@dataclass(frozen=True)
class Case:
    """A pack, the MindCV model it targets and the recipe it reproduces."""

    pack: str
    model: str
    recipe: Recipe

    @property
    def id(self) -> str:
        return f"{self.pack}-{self.model}"


CASES = [
    Case("convnext_mindcv", "convnext_small", convnext_group_recipe),
    Case("convnext_single_mindcv", "convnext_small", convnext_single_recipe),
    Case("convnextv2_mindcv", "convnextv2_tiny", convnextv2_tiny_recipe),
    Case("vit_mindcv", "vit_b_32_224", vit_recipe),
    Case("vit_mindcv", "mae_b_16_224_finetune", vit_recipe),
    Case("swin_mindcv", "swin_tiny", swin_recipe),
    Case("resnet_mindcv", "resnet50", resnet_recipe),
]


@pytest.fixture(scope="module")
def plans() -> dict[str, tuple[Plan, dict[str, Expected]]]:
    """Each case's plan and the recipe's assignments, keyed by case id."""
    results = {}
    for case in CASES:
        net = cached_network(case.model)
        records = records_from_cell(net)
        trainable = [record for record in records if record.trainable]
        plan = make_plan(load_rules(case.pack), records)
        results[case.id] = (plan, case.recipe(trainable, net))
    return results


def _mismatches(plan: Plan, expected: dict[str, Expected], field: str) -> list[str]:
    found = []
    for assignment in plan.assignments:
        want = getattr(expected[assignment.name], field)
        got = getattr(assignment, field)
        if got != pytest.approx(want, rel=1e-12, abs=0.0):
            found.append(f"{assignment.name}: pack {got}, recipe {want}")
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pack_places_same_parameters(case: Case, plans: dict) -> None:
    plan, expected = plans[case.id]
    assert [assignment.name for assignment in plan.assignments] == list(expected)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pack_layer_ids_match_recipe(case: Case, plans: dict) -> None:
    plan, expected = plans[case.id]
    assert _mismatches(plan, expected, "layer_id") == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pack_lr_scales_match_recipe(case: Case, plans: dict) -> None:
    plan, expected = plans[case.id]
    assert _mismatches(plan, expected, "lr_scale") == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pack_weight_decay_matches_recipe(case: Case, plans: dict) -> None:
    plan, expected = plans[case.id]
    assert _mismatches(plan, expected, "weight_decay") == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pack_plan_has_no_findings(case: Case, plans: dict) -> None:
    plan, _ = plans[case.id]
    assert [finding.format() for finding in plan.findings] == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_pack_validates_strictly(
    case: Case, plans: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under pytest's default import mode the CLI imports this same module by name, so
    # cached_network returns the network the plans fixture built.
    spec = f"{__name__}:cached_network:{case.model!r}"
    code = main(["validate", "--strict", case.pack, "--model", spec])
    output = capsys.readouterr().out
    assert code == 0, output
    assert output.endswith("1 file(s) checked: no problems\n")


def test_group_pack_rejects_shallow_third_stage() -> None:
    # ConvNeXt-T has 9 blocks in its third stage, where the 12-group recipe needs 27.
    records = records_from_cell(cached_network("convnext_tiny"))
    rules = load_rules("convnext_mindcv")

    plan = make_plan(rules, records, check_expect=False)

    assert plan.layer_ids == (0, 1, 2, 3, 4, 5, 12, 13)
    assert [finding.code for finding in plan.findings] == ["layer-gap"]
    assert plan.findings[0].message == (
        "layer id(s) 6..11 hold no trainable parameter between used ids 0 and 13, "
        "so the layers above skip a decay step"
    )


# The network whose groups each pack's doc page shows.
DOC_MODELS = {
    "convnext_mindcv": "convnext_small",
    "convnext_single_mindcv": "convnext_small",
    "convnextv2_mindcv": "convnextv2_tiny",
    "vit_mindcv": "vit_b_32_224",
    "swin_mindcv": "swin_tiny",
    "resnet_mindcv": "resnet50",
}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules"


def group_table(explain_text: str) -> str:
    """Return the group table of ``grouprules explain`` output: header to first blank line."""
    lines = explain_text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("group "))
    end = lines.index("", start)
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("pack", sorted(DOC_MODELS))
def test_doc_page_shows_current_groups(pack: str, plans: dict) -> None:
    plan, _ = plans[f"{pack}-{DOC_MODELS[pack]}"]
    page = (DOCS / f"{pack}.md").read_text(encoding="utf-8")
    stale = f"docs/rules/{pack}.md is stale: run python docs/rules/refresh.py"
    assert group_table(render_text(plan)) in page, stale
