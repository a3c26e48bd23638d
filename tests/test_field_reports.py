"""Cases reported from the field, each on a small real MindSpore network.

Every test here fails on the naive implementation the report describes: a
parameter that no rule matches silently placed in the head, depths counted from
the parameters present, extra keys handed to the optimizer, and so on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mindspore
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn

from grouprules import (
    Finding,
    NoTrainableParametersError,
    Plan,
    UnmatchedParametersError,
    load_rules,
    make_plan,
)
from grouprules.cli import main
from grouprules.matching import RuleSet
from grouprules.mindspore import build_groups, records_from_cell


@pytest.fixture(autouse=True)
def _pynative_mode() -> Iterator[None]:
    previous = mindspore.get_context("mode")
    mindspore.set_context(mode=mindspore.PYNATIVE_MODE)
    yield
    mindspore.set_context(mode=previous)


def _zeros(*shape: int) -> Tensor:
    return Tensor(np.zeros(shape, dtype=np.float32))


def _write_rules(tmp_path: Path, text: str, name: str = "rules.yaml") -> RuleSet:
    path = tmp_path / name
    path.write_text(text)
    return load_rules(path)


def _codes(plan: Plan) -> list[str]:
    return [finding.code for finding in plan.findings]


def _finding(plan: Plan, code: str) -> Finding:
    found = [finding for finding in plan.findings if finding.code == code]
    assert len(found) == 1, f"expected one {code} finding, got {found}"
    return found[0]


# Case 1: a register token that no rule matches.


class _PatchEmbed(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 4, stride=4, has_bias=True)


class _ViTBlock(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm((8,))
        self.fc = nn.Dense(8, 8)


class _TinyViT(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = Parameter(_zeros(1, 1, 8), name="cls_token")
        self.reg_token = Parameter(_zeros(1, 4, 8), name="reg_token")
        self.pos_embed = Parameter(_zeros(1, 21, 8), name="pos_embed")
        self.patch_embed = _PatchEmbed()
        self.blocks = nn.CellList([_ViTBlock(), _ViTBlock()])
        self.head = nn.Dense(8, 10)


_VIT_RULES = r"""
schema_version: 1
name: tiny-vit
num_layers: 2
layer_decay: 0.75
weight_decay: 0.05
rules:
  - {name: embeddings, pattern: '(?:cls_token|pos_embed|patch_embed\.)', layer: 0}
  - {name: blocks, pattern: 'blocks\.(?P<i>\d+)\.', layer: i + 1}
  - {name: head, pattern: 'head\.', layer: head}
no_weight_decay:
  names: ['^cls_token$', '^pos_embed$']
  max_rank: 1
"""


def test_unmatched_token_raises(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _VIT_RULES)
    records = records_from_cell(_TinyViT())

    with pytest.raises(UnmatchedParametersError) as caught:
        make_plan(rules, records)

    assert caught.value.names == ("reg_token",)
    assert str(caught.value) == (
        f"{tmp_path / 'rules.yaml'}: 1 trainable parameter(s) matched no rule:\n"
        "  reg_token\n"
        "  Hint: add a rule whose pattern matches these names, or add an explicit catch-all "
        "rule (pattern: '.*') as the last rule if they belong at one layer."
    )


def test_unmatched_error_lists_first_names_and_count(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _VIT_RULES)
    records = records_from_cell(_TinyViT())
    extra = nn.CellList([nn.Dense(2, 2) for _ in range(12)])
    records += [
        record.__class__(f"extra.{record.name}", record.shape)
        for record in records_from_cell(extra)
    ]

    with pytest.raises(UnmatchedParametersError) as caught:
        make_plan(rules, records)

    message = str(caught.value)
    assert len(caught.value.names) == 25
    assert "25 trainable parameter(s) matched no rule" in message
    assert "  reg_token\n  extra.0.weight\n" in message
    assert "  extra.9.weight\n" in message
    assert "  extra.9.bias\n" not in message
    assert "  ... and 5 more\n" in message


def test_token_added_gets_layer_zero(tmp_path: Path) -> None:
    fixed = _VIT_RULES.replace("cls_token|pos_embed|", "cls_token|reg_token|pos_embed|").replace(
        "'^cls_token$', '^pos_embed$'", "'^cls_token$', '^reg_token$', '^pos_embed$'"
    )
    rules = _write_rules(tmp_path, fixed)

    plan = make_plan(rules, records_from_cell(_TinyViT()))

    token = plan.assignment("reg_token")
    assert token.layer_id == 0
    assert token.weight_decay == 0.0
    assert token.decay_rule == "no_weight_decay.names[1]"
    assert plan.assignment("head.weight").layer_id == 3


# Case 2: a frozen EMA copy next to the trainable blocks.


class _EmaModule(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.module = nn.CellList([nn.Dense(4, 4) for _ in range(3)])


class _WithEma(nn.Cell):
    def __init__(self, frozen_block: int | None = None) -> None:
        super().__init__()
        self.blocks = nn.CellList([nn.Dense(4, 4) for _ in range(3)])
        self.ema = _EmaModule()
        for param in self.ema.get_parameters():
            param.requires_grad = False
        if frozen_block is not None:
            for param in self.blocks[frozen_block].get_parameters():
                param.requires_grad = False


_EMA_RULES = r"""
schema_version: 1
name: with-ema
num_layers: 2
layer_decay: 0.5
weight_decay: 0.1
rules:
  - {pattern: 'blocks\.(?P<i>\d+)\.', layer: i}
  - {pattern: 'ema\.', layer: 3}
no_weight_decay: {max_rank: 1}
"""


def test_frozen_copy_reported_and_excluded(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _EMA_RULES)
    net = _WithEma()

    plan = make_plan(rules, records_from_cell(net))

    assert plan.frozen == tuple(
        f"ema.module.{index}.{kind}" for index in range(3) for kind in ("weight", "bias")
    )
    assert {item.layer_id for item in plan.skipped} == {3}
    grouped = {name for group in plan.groups for name in group.params}
    assert not any(name.startswith("ema.") for name in grouped)
    scales = {a.name: a.lr_scale for a in plan.assignments}
    assert scales["blocks.0.weight"] == 0.125
    assert scales["blocks.1.weight"] == 0.25
    assert scales["blocks.2.weight"] == 0.5

    optimizer_params = build_groups(plan, net, 0.1).groups[-1]["order_params"]
    assert [param.name for param in optimizer_params] == [
        param.name for param in net.trainable_params()
    ]
    assert not any(param.name.startswith("ema.") for param in optimizer_params)


def test_frozen_copy_does_not_shift_scales(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _EMA_RULES)
    records = records_from_cell(_WithEma())
    trainable_only = [record for record in records if record.trainable]

    with_frozen = make_plan(rules, records)
    without_frozen = make_plan(rules, trainable_only)

    assert with_frozen.assignments == without_frozen.assignments
    assert with_frozen.groups == without_frozen.groups


def test_frozen_head_id_warns(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _EMA_RULES)

    plan = make_plan(rules, records_from_cell(_WithEma()))

    empty_head = _finding(plan, "empty-head")
    assert empty_head.message == (
        "no trainable parameter has the head id 3 (num_layers + 1) (its parameters are all "
        "frozen), so no group gets lr_scale 1.0; the highest id used is 2"
    )
    frozen = _finding(plan, "frozen-layers")
    assert frozen.message == (
        "layer id(s) 3 contributed no trainable parameter: all their parameters are frozen"
    )


def test_frozen_middle_block_keeps_depth(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _EMA_RULES)

    plan = make_plan(rules, records_from_cell(_WithEma(frozen_block=1)))

    assert plan.layer_ids == (0, 2)
    assert plan.assignment("blocks.2.weight").lr_scale == 0.5
    assert plan.assignment("blocks.0.weight").lr_scale == 0.125
    assert "blocks.1.weight" in plan.frozen
    # A layer whose parameters are all frozen is not a gap in the rule file.
    assert "layer-gap" not in _codes(plan)
    assert _finding(plan, "frozen-layers").message.startswith(
        "layer id(s) 1, 3 contributed no trainable parameter"
    )


# Case 3: every group carries a concrete lr that the optimizer applies.


class _ThreeLayers(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Dense(4, 6)
        self.body = nn.Dense(6, 5)
        self.head = nn.Dense(5, 3)

    def construct(self, x: Tensor) -> Tensor:
        return self.head(self.body(self.embed(x)))


_THREE_LAYER_RULES = r"""
schema_version: 1
name: three-layers
num_layers: 1
layer_decay: 0.5
weight_decay: 0.01
rules:
  - {pattern: 'embed\.', layer: 0}
  - {pattern: 'body\.', layer: 1}
  - {pattern: 'head\.', layer: head}
no_weight_decay:
  names: ['\.bias$']
"""


def test_groups_carry_only_optimizer_keys(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _THREE_LAYER_RULES)
    net = _ThreeLayers()

    out = build_groups(make_plan(rules, records_from_cell(net)), net, 0.1)

    for entry in out.groups[:-1]:
        assert set(entry) == {"params", "lr", "weight_decay"}
        assert isinstance(entry["lr"], float)
        assert isinstance(entry["weight_decay"], float)
    assert set(out.groups[-1]) == {"order_params"}


def test_optimizer_applies_scaled_lr(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _THREE_LAYER_RULES)
    net = _ThreeLayers()
    out = build_groups(make_plan(rules, records_from_cell(net)), net, 0.1)

    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)

    low = float(optimizer.get_lr_parameter(net.embed.weight).asnumpy())
    middle = float(optimizer.get_lr_parameter(net.body.weight).asnumpy())
    high = float(optimizer.get_lr_parameter(net.head.bias).asnumpy())
    assert low == pytest.approx(0.1 * 0.25)
    assert middle == pytest.approx(0.1 * 0.5)
    assert high == pytest.approx(0.1)


# Case 4: the head one id too high.


class _BertLike(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.embeddings = nn.Dense(4, 4)
        self.encoder = _Encoder(3)
        self.classifier = nn.Dense(4, 2)


class _Encoder(nn.Cell):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.layer = nn.CellList([nn.Dense(4, 4) for _ in range(depth)])


def test_head_off_by_one_warns(tmp_path: Path) -> None:
    rules = _write_rules(
        tmp_path,
        r"""
schema_version: 1
name: bert-like
num_layers: 4
layer_decay: 0.9
rules:
  - {pattern: 'embeddings\.', layer: 0}
  - {pattern: 'encoder\.layer\.(?P<i>\d+)\.', layer: i + 1}
  - {pattern: 'classifier\.', layer: 5}
""",
    )

    plan = make_plan(rules, records_from_cell(_BertLike()))

    assert plan.layer_ids == (0, 1, 2, 3, 5)
    gap = _finding(plan, "layer-gap")
    assert gap.message == (
        "layer id(s) 4 hold no trainable parameter between used ids 0 and 5, so the layers "
        "above skip a decay step"
    )
    assert gap.location == f"{tmp_path / 'rules.yaml'}:4:13"


def test_several_gaps_listed_as_ranges(tmp_path: Path) -> None:
    rules = _write_rules(
        tmp_path,
        r"""
schema_version: 1
name: gaps
num_layers: 8
layer_decay: 0.9
rules:
  - {pattern: 'embeddings\.', layer: 0}
  - {pattern: 'encoder\.layer\.(?P<i>\d+)\.', layer: 2 * i + 2}
  - {pattern: 'classifier\.', layer: head}
""",
    )

    plan = make_plan(rules, records_from_cell(_BertLike()))

    assert plan.layer_ids == (0, 2, 4, 6, 9)
    assert _finding(plan, "layer-gap").message.startswith(
        "layer id(s) 1, 3, 5, 7..8 hold no trainable parameter"
    )


# Case 5: a no-decay list written for PyTorch names.


class _BertOutput(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Dense(8, 8)
        self.LayerNorm = nn.LayerNorm((8,))


class _BertLayers(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.CellList([_BertOutput(), _BertOutput()])


_PYTORCH_NAMES_RULES = r"""
schema_version: 1
name: bert-output
num_layers: 2
layer_decay: 0.9
weight_decay: 0.01
rules:
  - {pattern: 'layer\.(?P<i>\d+)\.', layer: i + 1}
no_weight_decay:
  names: ['LayerNorm\.weight', 'bias']
"""


def test_pytorch_norm_names_warn(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _PYTORCH_NAMES_RULES)

    plan = make_plan(rules, records_from_cell(_BertLayers()))

    unused = _finding(plan, "unused-no-decay-pattern")
    assert unused.message == (
        "no_weight_decay pattern 'LayerNorm\\.weight' matches no trainable parameter"
    )
    assert unused.hint == (
        "MindSpore names norm parameters gamma and beta, not weight and bias; check the "
        "spelling against `grouprules explain --format json`"
    )
    norm_names = tuple(
        f"layer.{index}.LayerNorm.{kind}" for index in range(2) for kind in ("gamma", "beta")
    )
    assert _finding(plan, "decayed-low-rank").names == norm_names
    assert _finding(plan, "decayed-norm").names == norm_names
    assert plan.assignment("layer.0.LayerNorm.gamma").weight_decay == 0.01


def test_norm_cell_type_exempts_norms(tmp_path: Path) -> None:
    text = _PYTORCH_NAMES_RULES.replace(
        "names: ['LayerNorm\\.weight', 'bias']", "names: ['bias']\n  cell_types: [LayerNorm]"
    )
    rules = _write_rules(tmp_path, text)

    plan = make_plan(rules, records_from_cell(_BertLayers()))

    for index in range(2):
        for kind in ("gamma", "beta"):
            assignment = plan.assignment(f"layer.{index}.LayerNorm.{kind}")
            assert assignment.weight_decay == 0.0
        assert plan.assignment(f"layer.{index}.dense.weight").weight_decay == 0.01
    assert "decayed-norm" not in _codes(plan)
    assert "decayed-low-rank" not in _codes(plan)


# Case 6: a user-defined RMSNorm cell.


class LlamaRMSNorm(nn.Cell):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = Parameter(Tensor(np.ones((size,), dtype=np.float32)), name="weight")


class FusedRMSNorm(LlamaRMSNorm):
    pass


class _DecoderLayer(nn.Cell):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.input_layernorm = LlamaRMSNorm(size)
        self.q_proj = nn.Dense(size, 8, has_bias=False)
        self.post_attention_layernorm = FusedRMSNorm(size)


class _TinyLlama(nn.Cell):
    def __init__(self, size: int = 4096) -> None:
        super().__init__()
        self.layers = nn.CellList([_DecoderLayer(size)])
        self.norm = LlamaRMSNorm(size)
        self.lm_head = nn.Dense(size, 8, has_bias=False)


_LLAMA_RULES = r"""
schema_version: 1
name: tiny-llama
num_layers: 1
layer_decay: 0.9
weight_decay: 0.1
rules:
  - {pattern: 'layers\.(?P<i>\d+)\.', layer: i + 1}
  - {pattern: '(?:norm|lm_head)\.', layer: head}
no_weight_decay:
  cell_types: [LlamaRMSNorm]
"""


def test_user_norm_cell_exempted(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _LLAMA_RULES)
    records = records_from_cell(_TinyLlama())

    plan = make_plan(rules, records)

    norm_names = (
        "layers.0.input_layernorm.weight",
        "layers.0.post_attention_layernorm.weight",
        "norm.weight",
    )
    for name in norm_names:
        assert plan.assignment(name).shape == (4096,)
        assert plan.assignment(name).weight_decay == 0.0
        assert plan.assignment(name).decay_rule == "no_weight_decay.cell_types[0]"
    assert plan.assignment("layers.0.q_proj.weight").weight_decay == 0.1
    assert plan.assignment("lm_head.weight").weight_decay == 0.1
    assert plan.findings == ()


def test_user_norm_without_cell_types_warns(tmp_path: Path) -> None:
    text = _LLAMA_RULES.replace("no_weight_decay:\n  cell_types: [LlamaRMSNorm]\n", "")
    rules = _write_rules(tmp_path, text)

    plan = make_plan(rules, records_from_cell(_TinyLlama(size=16)))

    assert _finding(plan, "decayed-norm").names == (
        "layers.0.input_layernorm.weight",
        "layers.0.post_attention_layernorm.weight",
        "norm.weight",
    )


def test_misspelled_cell_type_warns(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _LLAMA_RULES.replace("[LlamaRMSNorm]", "[LlamaRmsNorm]"))

    plan = make_plan(rules, records_from_cell(_TinyLlama(size=16)))

    unused = _finding(plan, "unused-no-decay-cell-type")
    assert unused.message == (
        "no trainable parameter is owned by a cell of class 'LlamaRmsNorm' or of a subclass of it"
    )
    assert unused.hint == (
        "check the class name's spelling and case; norm classes owning parameters here: "
        "FusedRMSNorm, LlamaRMSNorm"
    )


# Case 7: an optimizer-level weight decay must not reach no-decay groups.


@pytest.mark.parametrize("optimizer_class", [nn.AdamWeightDecay, nn.SGD, nn.Momentum])
def test_no_decay_groups_keep_zero(tmp_path: Path, optimizer_class: type) -> None:
    rules = _write_rules(tmp_path, _THREE_LAYER_RULES)
    net = _ThreeLayers()
    plan = make_plan(rules, records_from_cell(net))
    out = build_groups(plan, net, 0.1)
    extra = {"momentum": 0.9} if optimizer_class is nn.Momentum else {}

    optimizer = optimizer_class(
        out.groups, learning_rate=out.learning_rate, weight_decay=1e-4, **extra
    )

    applied = {
        param.name: float(value.asnumpy())
        for param, value in zip(optimizer.parameters, optimizer.weight_decay, strict=True)
    }
    assert len(applied) == 6
    for assignment in plan.assignments:
        expected = 0.0 if assignment.name.endswith(".bias") else 0.01
        assert applied[assignment.name] == pytest.approx(expected), assignment.name


# Case 8: two no-decay tests that both hold for biases.


def test_overlapping_predicates_decide_once(tmp_path: Path) -> None:
    rules = _write_rules(
        tmp_path,
        r"""
schema_version: 1
name: overlap
num_layers: 1
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {pattern: 'embed\.', layer: 0}
  - {pattern: 'body\.', layer: 1}
  - {pattern: 'head\.', layer: head}
no_weight_decay:
  names: ['\.bias$']
  max_rank: 1
""",
    )
    net = _ThreeLayers()
    records = records_from_cell(net)

    plan = make_plan(rules, records)

    grouped = [name for group in plan.groups for name in group.params]
    assert len(grouped) == len(set(grouped)) == len(net.trainable_params())
    assert sorted(grouped) == sorted(record.name for record in records)
    assert sum(group.numel for group in plan.groups) == sum(r.numel for r in records)
    for assignment in plan.assignments:
        if assignment.name.endswith(".bias"):
            assert assignment.decay_rule == "no_weight_decay.names[0]"
    out = build_groups(plan, net, 0.1)
    # MindSpore raises for a parameter set in two groups, so this also checks the partition.
    nn.SGD(out.groups, learning_rate=out.learning_rate)


# Case 9: only the direct owner of a parameter counts.


class Encoder(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.scale = Parameter(Tensor(np.ones((4,), dtype=np.float32)), name="scale")
        self.dense = nn.Dense(4, 4)
        self.norm = nn.LayerNorm((4,))


class RootNorm(nn.Cell):
    """A root whose class name looks like a norm, holding no parameter itself."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.encoder = Encoder()


def test_owner_types_are_direct_owners() -> None:
    records = {record.name: record for record in records_from_cell(RootNorm())}

    assert records["embedding.embedding_table"].owner_types == ("Embedding", "Cell")
    assert records["encoder.scale"].owner_types == ("Encoder", "Cell")
    assert records["encoder.dense.weight"].owner_types == ("Dense", "Cell")
    assert records["encoder.norm.gamma"].owner_types == ("LayerNorm", "Cell")


def test_ancestor_cell_type_exempts_nothing_below(tmp_path: Path) -> None:
    rules = _write_rules(
        tmp_path,
        r"""
schema_version: 1
name: nested
num_layers: 1
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {pattern: 'embedding\.', layer: 0}
  - {pattern: 'encoder\.', layer: 1}
no_weight_decay:
  cell_types: [RootNorm, Encoder]
""",
    )

    plan = make_plan(rules, records_from_cell(RootNorm()))

    assert plan.assignment("encoder.scale").weight_decay == 0.0
    assert plan.assignment("encoder.scale").decay_rule == "no_weight_decay.cell_types[1]"
    for name in ("embedding.embedding_table", "encoder.dense.weight", "encoder.dense.bias"):
        assert plan.assignment(name).weight_decay == 0.05, name
    assert plan.assignment("encoder.norm.gamma").weight_decay == 0.05
    # RootNorm owns no parameter directly, so its entry matches nothing.
    assert _finding(plan, "unused-no-decay-cell-type").trail == ("no_weight_decay.cell_types[0]")


# Case 10: a frozen backbone.


class _Backbone(nn.Cell):
    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.CellList([nn.Dense(4, 4) for _ in range(3)])


class _Classifier(nn.Cell):
    def __init__(self, freeze_head: bool = False) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.head = nn.Dense(4, 2)
        for param in self.backbone.get_parameters():
            param.requires_grad = False
        if freeze_head:
            for param in self.head.get_parameters():
                param.requires_grad = False


_CLASSIFIER_RULES = r"""
schema_version: 1
name: classifier
num_layers: 3
layer_decay: 0.7
weight_decay: 0.05
rules:
  - {pattern: 'backbone\.stages\.(?P<i>\d+)\.', layer: i + 1}
  - {pattern: 'head\.', layer: head}
no_weight_decay: {max_rank: 1}
"""


def test_frozen_backbone_emits_head_only(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _CLASSIFIER_RULES)
    net = _Classifier()

    plan = make_plan(rules, records_from_cell(net))

    assert [group.name for group in plan.groups] == ["layer_4_decay", "layer_4_no_decay"]
    assert all(group.params for group in plan.groups)
    assert _finding(plan, "frozen-layers").message == (
        "layer id(s) 1..3 contributed no trainable parameter: all their parameters are frozen"
    )
    assert plan.summary().splitlines()[-1] == "skipped: 6 frozen, 0 shared alias(es)"
    out = build_groups(plan, net, 0.1)
    assert len(out.groups) == 3


def test_all_frozen_raises(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _CLASSIFIER_RULES)

    with pytest.raises(NoTrainableParametersError) as caught:
        make_plan(rules, records_from_cell(_Classifier(freeze_head=True)))

    assert str(caught.value) == (
        f"{tmp_path / 'rules.yaml'}: the network has no trainable parameter (8 frozen, 0 shared "
        "aliases); there is nothing to group.\n"
        "  Hint: unfreeze the layers to fine-tune (requires_grad=True) before building the "
        "optimizer."
    )


# Case 11: groups are head first, yet a training step lines up.


def test_training_step_uses_group_lr(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _THREE_LAYER_RULES)
    net = _ThreeLayers()
    plan = make_plan(rules, records_from_cell(net))
    out = build_groups(plan, net, 0.1)
    optimizer = nn.SGD(out.groups, learning_rate=out.learning_rate)
    assert [group.layer_id for group in plan.groups] == [2, 2, 1, 1, 0, 0]

    weights = net.trainable_params()
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(0)
    inputs = Tensor(rng.standard_normal((5, 4)).astype(np.float32))
    targets = Tensor(rng.standard_normal((5, 3)).astype(np.float32))

    def forward(x: Tensor, y: Tensor) -> Tensor:
        return loss_fn(net(x), y)

    grad_fn = mindspore.value_and_grad(forward, None, weights)
    before = [param.asnumpy().copy() for param in weights]
    _, grads = grad_fn(inputs, targets)
    optimizer(grads)

    assert [param.name for param in optimizer.parameters] == [param.name for param in weights]
    for param, old, grad in zip(weights, before, grads, strict=True):
        assignment = plan.assignment(param.name)
        lr = 0.1 * assignment.lr_factor
        expected = old - lr * (grad.asnumpy() + assignment.weight_decay * old)
        np.testing.assert_allclose(param.asnumpy(), expected, rtol=1e-5, atol=1e-7)
        assert not np.array_equal(param.asnumpy(), old), param.name


# Case 12: the base lr and the range of group lrs are logged.


def test_summary_states_lr_range(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _THREE_LAYER_RULES)

    plan = make_plan(rules, records_from_cell(_ThreeLayers()))

    assert plan.summary(0.1) == (
        f"grouprules: 6 parameters in 6 groups, layer ids 0..2 ({tmp_path / 'rules.yaml'})\n"
        "base lr 0.1; smallest group lr 0.025 (layer 0); largest 0.1 (layer 2)"
    )


def test_explain_states_lr_range(capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(__file__).resolve().parents[1]

    code = main(
        [
            "explain",
            str(repo / "rules" / "convnext.yaml"),
            "--params",
            str(repo / "examples" / "convnext_base_params.txt"),
            "--lr",
            "0.001",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "base lr 0.001; smallest group lr 5.498e-05 (layer 0); largest 0.001 (layer 13)" in out
