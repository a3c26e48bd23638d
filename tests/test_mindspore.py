"""Tests for the MindSpore adapter: records, group emission, and optimizer steps.

The numerical tests train real networks for a few steps and compare every
parameter's update with the group lr the rule file promises.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
import pytest
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

from examples.convnext import convnext_small_cpu
from grouprules import EmissionError, load_rules, make_plan, read_dump
from grouprules.mindspore import (
    CheckpointError,
    OptimizerGroups,
    ScaledSchedule,
    build_groups,
    check_groups,
    param_groups,
    plan_for_cell,
    records_from_cell,
    records_from_checkpoint,
)

CONVNEXT_RULES = Path(__file__).resolve().parents[1] / "rules" / "convnext.yaml"
CONVNEXT_HEAD_ID = 13
CONVNEXT_LAYER_DECAY = 0.8
RTOL = 1e-4

TINY_RULES = r"""
schema_version: 1
name: tiny
num_layers: 2
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {name: stem, pattern: 'stem\.', layer: 0}
  - {name: blocks, pattern: 'blocks\.(?P<i>\d+)\.', layer: i + 1}
  - {name: head, pattern: 'head\.', layer: head, lr_mult: 2.0}
no_weight_decay:
  max_rank: 1
"""

# lr factor of each tiny-net parameter: 0.5 ** (3 - layer_id), times lr_mult 2 on the head.
TINY_FACTORS = {
    "stem.weight": 0.125,
    "stem.bias": 0.125,
    "blocks.0.weight": 0.25,
    "blocks.0.bias": 0.25,
    "blocks.1.gamma": 0.5,
    "blocks.1.beta": 0.5,
    "head.weight": 2.0,
    "head.bias": 2.0,
}

TIED_RULES = r"""
schema_version: 1
name: tied
num_layers: 1
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {pattern: 'embed\.', layer: 0}
  - {pattern: 'body\.', layer: 1}
  - {pattern: 'out\.', layer: head}
no_weight_decay:
  max_rank: 1
"""


class TinyNet(nn.Cell):
    """Stem, two blocks (a Dense and a LayerNorm) and a head: four layer ids."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Dense(4, 8)
        self.blocks = nn.SequentialCell([nn.Dense(8, 8), nn.LayerNorm((8,))])
        self.head = nn.Dense(8, 3)

    def construct(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))


class TiedNet(nn.Cell):
    """A language-model-like net whose output projection reuses the embedding table."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.body = nn.Dense(4, 4)
        self.out = nn.Dense(4, 10, has_bias=False)
        self.out.weight = self.embed.embedding_table

    def construct(self, ids: Tensor) -> Tensor:
        return self.out(self.body(self.embed(ids)))


class SameNamesNet(nn.Cell):
    """Two Dense cells whose parameters keep the bare names weight and bias."""

    def __init__(self) -> None:
        super().__init__(auto_prefix=False)
        self.first = nn.Dense(2, 2)
        self.second = nn.Dense(2, 2)

    def construct(self, x: Tensor) -> Tensor:
        return self.second(self.first(x))


class Gradients(nn.Cell):
    """Gradients of a loss cell with respect to a list of parameters."""

    def __init__(self, loss_net: nn.Cell, params: list[Parameter]) -> None:
        # auto_prefix=False keeps Parameter.name as the network set it.
        super().__init__(auto_prefix=False)
        self.loss_net = loss_net
        self.params = ParameterTuple(params)
        self.grad = ops.GradOperation(get_by_list=True)

    def construct(self, images: Tensor, labels: Tensor) -> tuple[Tensor, ...]:
        return self.grad(self.loss_net, self.params)(images, labels)  # type: ignore[no-any-return]


@pytest.fixture(params=[ms.GRAPH_MODE, ms.PYNATIVE_MODE], ids=["graph", "pynative"])
def mode(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = ms.get_context("mode")
    ms.set_context(mode=request.param)
    yield request.param
    ms.set_context(mode=previous)


@pytest.fixture
def pynative() -> Iterator[None]:
    previous = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=previous)


@pytest.fixture
def tiny_rules(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_RULES, encoding="utf-8")
    return path


def _small_convnext() -> nn.Cell:
    ms.set_seed(0)
    net = convnext_small_cpu(num_classes=10, image_size=32)
    # The layer scales start at 1e-6, which leaves the block weights gradients
    # below float32 resolution; 0.5 is a value a trained network could hold.
    for name, param in net.parameters_and_names():
        if re.fullmatch(r".*\.\d+\.gamma", name):
            param.set_data(Tensor(np.full(param.shape, 0.5, dtype=np.float32)))
    return net


def _convnext_batch() -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    return Tensor(images), Tensor(np.array([1, 2, 3, 4], dtype=np.int32))


def _loss_net(net: nn.Cell) -> nn.Cell:
    return nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))


def _convnext_factor(layer_id: int) -> float:
    return float(CONVNEXT_LAYER_DECAY ** (CONVNEXT_HEAD_ID - layer_id))


def _moves_by(old: np.ndarray, new: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Return, per element, whether ``new - old`` equals ``expected`` to RTOL.

    The stored value is float32, so one unit in the last place of the parameter
    is allowed on top of the relative tolerance.
    """
    delta = new.astype(np.float64) - old.astype(np.float64)
    allowed = RTOL * np.abs(expected) + np.spacing(np.maximum(np.abs(old), np.abs(new)))
    return np.abs(delta - expected) <= allowed  # type: ignore[no-any-return]


def _assert_moves_by(name: str, old: np.ndarray, new: np.ndarray, expected: np.ndarray) -> None:
    close = _moves_by(old, new, expected)
    if not close.all():
        index = int(np.argmin(close))
        delta = float(new.flat[index]) - float(old.flat[index])
        pytest.fail(
            f"{name}: element {index} moved by {delta:.6g}, expected {expected.flat[index]:.6g}"
        )


def _tiny_batch() -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(1)
    return Tensor(rng.standard_normal((6, 4)).astype(np.float32)), Tensor(
        np.array([0, 1, 2, 0, 1, 2], dtype=np.int32)
    )


def _train_one_step(net: nn.Cell, optimizer: nn.Optimizer, batch: tuple[Tensor, Tensor]) -> float:
    step = nn.TrainOneStepCell(_loss_net(net), optimizer)
    return float(step(*batch).asnumpy())


# --- records -----------------------------------------------------------------


def test_records_from_cell_owner_is_direct_cell() -> None:
    records = {record.name: record for record in records_from_cell(convnext_small_cpu())}

    assert records["backbone.start_cell.1.gamma"].owner_types == ("LayerNorm", "Cell")
    assert records["backbone.block1.0.gamma"].owner_types == ("Block", "Cell")
    assert records["head.dense.weight"].owner_types == ("Dense", "Cell")
    assert records["head.dense.weight"].shape == (10, 128)
    assert all(record.trainable for record in records.values())


def test_records_agree_across_inputs(tmp_path: Path) -> None:
    net = convnext_small_cpu()
    checkpoint = tmp_path / "small.ckpt"
    ms.save_checkpoint(net, str(checkpoint))
    dump = tmp_path / "small_params.txt"
    dump.write_text("".join(f"{param}\n" for param in net.get_parameters()), encoding="utf-8")

    from_cell = [(record.name, record.shape) for record in records_from_cell(net)]
    from_checkpoint = [
        (record.name, record.shape) for record in records_from_checkpoint(checkpoint)
    ]
    from_dump = [(record.name, record.shape) for record in read_dump(dump)]

    assert len(from_cell) == 64
    assert from_checkpoint == from_cell
    assert from_dump == from_cell


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda params: nn.AdamWeightDecay(params, learning_rate=1e-3),
        lambda params: nn.SGD(params, learning_rate=1e-3),
        lambda params: nn.Momentum(params, learning_rate=1e-3, momentum=0.9),
    ],
    ids=["adamweightdecay", "sgd", "momentum"],
)
def test_checkpoint_leaves_out_optimizer_state(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make_optimizer: Callable[[Any], nn.Optimizer],
) -> None:
    net = convnext_small_cpu()
    out = param_groups(CONVNEXT_RULES, net, 1e-3, check_expect=False)
    train = nn.TrainOneStepCell(_loss_net(net), make_optimizer(out.groups))
    checkpoint = tmp_path / "train.ckpt"
    ms.save_checkpoint(train, str(checkpoint))

    with caplog.at_level(logging.INFO, logger="grouprules.mindspore"):
        records = records_from_checkpoint(checkpoint)

    assert [record.name for record in records] == [name for name, _ in net.parameters_and_names()]
    stored = len(ms.load_checkpoint(str(checkpoint)))
    assert f"left out {stored - 64} optimizer-state entries" in caplog.text


def test_checkpoint_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "missing.ckpt"

    with pytest.raises(CheckpointError) as error:
        records_from_checkpoint(path)

    message = str(error.value)
    assert message.startswith(f"{path}: cannot load the checkpoint: ")
    assert message.endswith(
        "  Hint: pass a file written by mindspore.save_checkpoint, or use --params with a "
        "parameter dump."
    )


# --- emitted groups ----------------------------------------------------------


def test_groups_hold_only_optimizer_keys() -> None:
    net = convnext_small_cpu()

    out = param_groups(CONVNEXT_RULES, net, 1e-3, check_expect=False)

    *groups, order = out.groups
    assert len(groups) == len(out.metadata) == 12
    for entry, meta in zip(groups, out.metadata, strict=True):
        assert set(entry) == {"params", "lr", "weight_decay"}
        assert type(entry["weight_decay"]) is float
        assert entry["weight_decay"] == (1e-5 if meta.decay else 0.0)
        assert [param.name for param in entry["params"]] == list(meta.params)
    assert set(order) == {"order_params"}
    assert [id(param) for param in order["order_params"]] == [
        id(param) for param in net.trainable_params()
    ]
    assert out.metadata[0].name == "layer_13_decay"


_LR_KINDS: dict[str, Any] = {
    "float": 0.5,
    "int": 1,
    "numpy scalar": np.float32(0.5),
    "list": [0.5, 0.25, 0.125],
    "numpy array": np.array([0.5, 0.25, 0.125]),
    "tensor 0-d": Tensor(0.5, ms.float32),
    "tensor 1-d": Tensor(np.array([0.5, 0.25, 0.125], dtype=np.float32)),
}


@pytest.mark.parametrize("kind", list(_LR_KINDS))
def test_group_lr_is_base_times_factor(tiny_rules: Path, kind: str) -> None:
    base = _LR_KINDS[kind]
    net = TinyNet()

    out = param_groups(tiny_rules, net, base)

    base_values = np.asarray(base.asnumpy() if isinstance(base, Tensor) else base, np.float64)
    for entry in out.groups[:-1]:
        factor = TINY_FACTORS[entry["params"][0].name]
        lr = entry["lr"]
        if isinstance(base, Tensor):
            assert isinstance(lr, Tensor)
            assert lr.dtype == ms.float32
            assert lr.shape == base.shape
            lr = lr.asnumpy()
        elif base_values.ndim == 1:
            assert isinstance(lr, list)
        else:
            assert type(lr) is float
        np.testing.assert_allclose(np.asarray(lr, np.float64), base_values * factor, rtol=1e-6)


def test_group_lr_of_schedule_is_scaled_schedule(tiny_rules: Path) -> None:
    base = nn.CosineDecayLR(0.1, 1.0, 4)
    net = TinyNet()

    out = param_groups(tiny_rules, net, base)

    assert out.learning_rate is base
    for entry in out.groups[:-1]:
        assert isinstance(entry["lr"], ScaledSchedule)
        assert entry["lr"].base is base
        assert entry["lr"].scale == TINY_FACTORS[entry["params"][0].name]
    head = out.metadata[0].name
    assert head == "layer_3_decay_lrx2"
    assert out.lr_at(head, 0) == pytest.approx(2.0, rel=1e-6)
    assert out.lr_at(head, 2) == pytest.approx(2.0 * 0.55, rel=1e-6)


def test_iterator_lr_is_read_once(tiny_rules: Path) -> None:
    out = param_groups(tiny_rules, TinyNet(), iter([0.4, 0.2]))

    assert out.learning_rate == [0.4, 0.2]
    assert out.lr_at("layer_0_decay", 1) == pytest.approx(0.025)


def test_lr_at_past_per_step_end(tiny_rules: Path) -> None:
    out = param_groups(tiny_rules, TinyNet(), [0.4, 0.2])

    with pytest.raises(IndexError, match=r"^step 2 is outside the per-step lr of 2 steps$"):
        out.lr_at("layer_0_decay", 2)
    with pytest.raises(KeyError, match="no group named 'layer_9_decay'; the groups are: "):
        out.lr_at("layer_9_decay", 0)


def test_scaled_schedule_keeps_base_names() -> None:
    class HoldLR(nn.learning_rate_schedule.LearningRateSchedule):
        def __init__(self) -> None:
            super().__init__()
            self.value = Parameter(Tensor(0.5, ms.float32), name="value", requires_grad=False)

        def construct(self, global_step: Tensor) -> Tensor:
            return self.value * 1.0

    base = HoldLR()
    first = ScaledSchedule(base, 0.5)
    ScaledSchedule(base, 0.25)

    assert base.value.name == "value"
    assert float(first(Tensor(0, ms.int32)).asnumpy()) == 0.25


_OPTIMIZERS: dict[str, Callable[[list[dict[str, Any]], Any], nn.Optimizer]] = {
    "adamweightdecay": lambda groups, lr: nn.AdamWeightDecay(groups, lr, weight_decay=1e-2),
    "adam": lambda groups, lr: nn.Adam(groups, lr, weight_decay=1e-2),
    "momentum": lambda groups, lr: nn.Momentum(groups, lr, momentum=0.9, weight_decay=1e-2),
    "sgd": lambda groups, lr: nn.SGD(groups, lr, weight_decay=1e-2),
}


@pytest.mark.parametrize(
    "kind", ["float", "list", "numpy array", "tensor 0-d", "tensor 1-d", "schedule"]
)
@pytest.mark.parametrize("optimizer_name", list(_OPTIMIZERS))
def test_optimizers_train_with_groups(
    mode: int, tiny_rules: Path, optimizer_name: str, kind: str
) -> None:
    base = nn.CosineDecayLR(0.01, 0.1, 4) if kind == "schedule" else _LR_KINDS[kind]
    ms.set_seed(0)
    net = TinyNet()
    out = param_groups(tiny_rules, net, base)
    optimizer = _OPTIMIZERS[optimizer_name](out.groups, out.learning_rate)
    before = [param.asnumpy().copy() for param in net.trainable_params()]

    loss = _train_one_step(net, optimizer, _tiny_batch())

    assert math.isfinite(loss)
    for param, old in zip(net.trainable_params(), before, strict=True):
        assert not np.array_equal(param.asnumpy(), old), param.name


# --- the key property: each parameter moves by its own group lr ----------------


def _cosine_lr(step: int) -> float:
    # nn.CosineDecayLR(0.05, 0.5, 4) in closed form.
    return 0.05 + 0.5 * (0.5 - 0.05) * (1.0 + math.cos(math.pi * min(step, 4) / 4))


_BASE_LRS: dict[str, tuple[Callable[[], Any], Callable[[int], float]]] = {
    "float": (lambda: 0.5, lambda step: 0.5),
    "per-step list": (lambda: [0.5, 0.1, 0.2, 0.3], lambda step: [0.5, 0.1, 0.2, 0.3][step]),
    "schedule": (lambda: nn.CosineDecayLR(0.05, 0.5, 4), _cosine_lr),
}


@pytest.mark.parametrize("kind", list(_BASE_LRS))
def test_sgd_step_moves_by_group_lr(mode: int, kind: str) -> None:
    make_lr, base_lr = _BASE_LRS[kind]
    net = _small_convnext()
    # weight_decay=0.0 so that the update is the lr times the gradient alone.
    out = param_groups(CONVNEXT_RULES, net, make_lr(), check_expect=False, weight_decay=0.0)
    optimizer = nn.SGD(out.groups, learning_rate=out.learning_rate, momentum=0.0, weight_decay=0.0)
    params = net.trainable_params()
    gradients = Gradients(_loss_net(net), params)
    batch = _convnext_batch()

    layer_of = {
        id(param): meta.layer_id
        for entry, meta in zip(out.groups, out.metadata, strict=False)
        for param in entry["params"]
    }
    group_lrs = {base_lr(0) * _convnext_factor(layer_of[id(param)]) for param in params}
    assert len(group_lrs) >= 4

    measured_steps = (0, 3)
    for step in range(4):
        # Steps 1 and 2 only advance the optimizer, so they reuse the step-0 gradients.
        if step in measured_steps:
            grads = gradients(*batch)
        before = [param.asnumpy().copy() for param in params]
        optimizer(grads)
        if step not in measured_steps:
            continue

        # Per layer id: whether an lr 0.8 times too small (the next layer's) would also pass.
        wrong_lr_passes: dict[int, bool] = {}
        for param, old, grad in zip(params, before, grads, strict=True):
            layer_id = layer_of[id(param)]
            lr = base_lr(step) * _convnext_factor(layer_id)
            expected = -lr * grad.asnumpy().astype(np.float64)
            new = param.asnumpy()
            _assert_moves_by(f"step {step}, {param.name}", old, new, expected)
            passes = bool(_moves_by(old, new, 0.8 * expected).all())
            wrong_lr_passes[layer_id] = wrong_lr_passes.get(layer_id, True) and passes
        # Some updates fall below float32 resolution, but every layer id has updates
        # large enough for the check to distinguish its lr from the next layer's.
        assert not any(wrong_lr_passes.values()), wrong_lr_passes


def test_sgd_step_lrs_differ_between_steps() -> None:
    # The schedule and the list above must give different lrs at steps 0 and 3.
    for kind in ("per-step list", "schedule"):
        _, base_lr = _BASE_LRS[kind]
        assert base_lr(3) < 0.7 * base_lr(0), kind


def test_adamweightdecay_decays_only_decay_groups(mode: int) -> None:
    net = _small_convnext()
    out = param_groups(CONVNEXT_RULES, net, 0.5, check_expect=False, weight_decay=0.05)
    # The optimizer's own weight_decay must not reach the no-decay groups.
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate, weight_decay=1e-2)
    params = net.trainable_params()
    before = {id(param): param.asnumpy().copy() for param in params}

    # With zero gradients Adam's own update is 0, which isolates the decay term.
    optimizer(tuple(ops.zeros_like(param) for param in params))

    decayed = unchanged = 0
    for entry, meta in zip(out.groups, out.metadata, strict=False):
        lr = 0.5 * _convnext_factor(meta.layer_id)
        for param in entry["params"]:
            old = before[id(param)]
            new = param.asnumpy()
            if meta.decay:
                _assert_moves_by(param.name, old, new, -lr * 0.05 * old.astype(np.float64))
                decayed += 1
            else:
                assert np.array_equal(new, old), param.name
                unchanged += 1
    # Decayed: the stem conv, 3 weights in each of 6 blocks, 3 downsample convs, the head.
    assert decayed == 23
    assert unchanged == 41


def test_get_lr_parameter_float_lr() -> None:
    net = convnext_small_cpu()
    out = param_groups(CONVNEXT_RULES, net, 1e-3, check_expect=False)
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)

    low = net.backbone.start_cell[0].weight
    high = net.head.dense.weight
    low_lr = optimizer.get_lr_parameter(low).asnumpy()
    high_lr = optimizer.get_lr_parameter(high).asnumpy()

    assert low_lr == pytest.approx(1e-3 * 0.8**13, rel=1e-6)
    assert high_lr == pytest.approx(1e-3, rel=1e-6)


def test_get_lr_parameter_list_lr() -> None:
    net = convnext_small_cpu()
    base = [1e-3, 5e-4, 2.5e-4]
    out = param_groups(CONVNEXT_RULES, net, base, check_expect=False)
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)

    low = optimizer.get_lr_parameter(net.backbone.start_cell[0].weight).asnumpy()
    high = optimizer.get_lr_parameter(net.head.dense.weight).asnumpy()

    np.testing.assert_allclose(low, np.array(base) * 0.8**13, rtol=1e-6)
    np.testing.assert_allclose(high, np.array(base), rtol=1e-6)


# --- shared and frozen parameters --------------------------------------------


def test_tied_parameter_grouped_once(tmp_path: Path, pynative: None) -> None:
    rules = tmp_path / "tied.yaml"
    rules.write_text(TIED_RULES, encoding="utf-8")
    ms.set_seed(0)
    net = TiedNet()

    records = {record.name: record for record in records_from_cell(net)}
    plan = plan_for_cell(rules, net)
    out = build_groups(plan, net, 0.1)
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)
    table = net.embed.embedding_table
    before = table.asnumpy().copy()
    train = nn.TrainOneStepCell(_loss_net(net), optimizer)
    loss = train(Tensor(np.array([1, 2, 3, 4], np.int32)), Tensor(np.array([2, 3, 4, 5], np.int32)))

    assert records["out.weight"].identity == records["embed.embedding_table"].identity
    assert [(item.name, item.reason, item.shared_with) for item in plan.skipped] == [
        ("out.weight", "shared", "embed.embedding_table")
    ]
    grouped = [param for entry in out.groups[:-1] for param in entry["params"]]
    assert sum(param is table for param in grouped) == 1
    assert len(out.groups[-1]["order_params"]) == len(grouped) == 3
    assert math.isfinite(float(loss.asnumpy()))
    assert not np.array_equal(table.asnumpy(), before)


def test_frozen_stage_keeps_layer_ids(pynative: None) -> None:
    unfrozen = plan_for_cell(CONVNEXT_RULES, convnext_small_cpu(), check_expect=False)
    net = convnext_small_cpu()
    frozen_names = {
        f"backbone.block1.{name}" for name, _ in net.backbone.block1.parameters_and_names()
    }
    for param in net.backbone.block1.get_parameters():
        param.requires_grad = False

    plan = plan_for_cell(CONVNEXT_RULES, net, check_expect=False)
    out = build_groups(plan, net, 1e-3)
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)
    before = net.backbone.block1[0].pwconv1.weight.asnumpy().copy()
    loss = _train_one_step(net, optimizer, _convnext_batch())

    assert len(frozen_names) == 8
    assert set(plan.frozen) == frozen_names
    assert {item.layer_id for item in plan.skipped} == {1}
    grouped = {name for group in plan.groups for name in group.params}
    assert not grouped & frozen_names
    for assignment in plan.assignments:
        reference = unfrozen.assignment(assignment.name)
        assert (assignment.layer_id, assignment.lr_scale) == (
            reference.layer_id,
            reference.lr_scale,
        )
    assert len(out.groups[-1]["order_params"]) == len(net.trainable_params()) == 56
    assert math.isfinite(loss)
    assert np.array_equal(net.backbone.block1[0].pwconv1.weight.asnumpy(), before)


# --- errors ------------------------------------------------------------------

_BAD_LRS = [
    (-1e-3, "lr is -0.001; MindSpore trains only with finite, non-negative learning rates."),
    (
        float("nan"),
        "lr is nan; MindSpore trains only with finite, non-negative learning rates.",
    ),
    (
        [0.1, -0.2],
        "lr contains -0.2; MindSpore trains only with finite, non-negative learning rates.",
    ),
    ([], "lr is empty; a per-step lr needs one value for each optimizer step."),
    ([[0.1, 0.2]], "lr has shape (1, 2); a per-step lr must be 1-D, one value per step."),
    (
        Tensor(np.ones((2, 2), np.float32)),
        "lr is a Tensor of shape (2, 2); MindSpore accepts a Tensor lr of rank 0 (one value) or "
        "rank 1 (one value per step).\n  Hint: flatten it to one value per step.",
    ),
    (
        None,
        "lr is None, which is not a learning rate.\n  expected: a non-negative number, a "
        "non-empty per-step list or 1-D array, a Tensor of rank 0 or 1, or a LearningRateSchedule",
    ),
    (
        True,
        "lr is True, which is not a learning rate.\n  expected: a non-negative number, a "
        "non-empty per-step list or 1-D array, a Tensor of rank 0 or 1, or a LearningRateSchedule",
    ),
    (
        "1e-3",
        "lr is '1e-3', which is not a learning rate.\n  expected: a non-negative number, a "
        "non-empty per-step list or 1-D array, a Tensor of rank 0 or 1, or a LearningRateSchedule",
    ),
    (
        ["a", "b"],
        "lr is a list that does not contain numbers.\n  expected: a non-negative number, a "
        "non-empty per-step list or 1-D array, a Tensor of rank 0 or 1, or a LearningRateSchedule",
    ),
]


@pytest.mark.parametrize(("lr", "message"), _BAD_LRS, ids=[repr(case[0])[:20] for case in _BAD_LRS])
def test_bad_lr_rejected(tiny_rules: Path, lr: Any, message: str) -> None:
    with pytest.raises(EmissionError) as error:
        param_groups(tiny_rules, TinyNet(), lr)

    assert str(error.value) == message


def test_mindspore_rejects_same_lrs() -> None:
    # The checks above stand in for these MindSpore errors, raised later and less clearly.
    dense = nn.Dense(2, 2)
    with pytest.raises(ValueError):
        nn.SGD([dense.weight], learning_rate=-1e-3)
    with pytest.raises(ValueError):
        nn.SGD([dense.weight], learning_rate=Tensor(np.ones((2, 2), np.float32)))
    with pytest.raises(ValueError):
        nn.SGD(
            [{"params": [dense.weight], "lr": [0.1, 0.2]}, {"params": [dense.bias], "lr": [0.1]}],
            learning_rate=0.1,
        )
    with pytest.raises(ValueError):
        nn.SGD([{"params": [dense.weight], "lr": [0.1, 0.2]}], learning_rate=[0.1, 0.2, 0.3])


def _tiny_groups(tiny_rules: Path, lr: Any = 0.1) -> tuple[TinyNet, OptimizerGroups]:
    net = TinyNet()
    return net, param_groups(tiny_rules, net, lr)


def test_check_groups_length_mismatch(tiny_rules: Path) -> None:
    _, out = _tiny_groups(tiny_rules, [0.1, 0.2])

    with pytest.raises(EmissionError) as error:
        check_groups(out.groups, [0.1, 0.2, 0.3], [meta.name for meta in out.metadata])

    assert str(error.value) == (
        "groups[0] (layer_3_decay_lrx2): lr has 2 steps, but learning_rate has 3.\n"
        "  MindSpore requires every per-step lr, in the groups and in learning_rate, to have the "
        "same length.\n  Hint: build all of them from one per-step list."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda groups: groups[0].update(name="head"),
            "groups[0] has key(s) ['name'] that MindSpore rejects; a group may contain only "
            "['params', 'lr', 'weight_decay', 'grad_centralization', 'order_params'].\n"
            "  Hint: keep metadata beside the groups.",
        ),
        (
            lambda groups: groups[1].pop("weight_decay"),
            "groups[1] has no 'weight_decay', so it would take the optimizer's value.\n"
            "  Hint: set 'weight_decay' in every group.",
        ),
        (
            lambda groups: groups[1].pop("lr"),
            "groups[1] has no 'lr', so it would take the optimizer's value.\n"
            "  Hint: set 'lr' in every group.",
        ),
        (
            lambda groups: groups[1].update(weight_decay=-0.1),
            "groups[1]: weight_decay is -0.1; MindSpore accepts a finite number >= 0 or a Cell.",
        ),
        (
            lambda groups: groups[1].update(params=[]),
            "groups[1]: params must be a non-empty list of Parameters, got []\n"
            "  Hint: leave empty groups out; MindSpore rejects them.",
        ),
        (
            lambda groups: groups[1]["params"].append(groups[0]["params"][0]),
            "groups[1]: parameter 'head.weight' is also in groups[0]; MindSpore accepts each "
            "parameter in one group only.",
        ),
        (
            lambda groups: groups[-1]["order_params"].pop(),
            "order_params lists 7 parameters, but the groups contain 8; MindSpore needs "
            "order_params to list every grouped parameter once.",
        ),
    ],
    ids=[
        "extra key",
        "no weight_decay",
        "no lr",
        "negative weight_decay",
        "empty",
        "twice",
        "order",
    ],
)
def test_check_groups_rejects(
    tiny_rules: Path, change: Callable[[list[dict[str, Any]]], Any], message: str
) -> None:
    _, out = _tiny_groups(tiny_rules)
    groups = [dict(entry) for entry in out.groups]
    for entry in groups:
        for key in ("params", "order_params"):
            if key in entry:
                entry[key] = list(entry[key])
    change(groups)

    with pytest.raises(EmissionError) as error:
        check_groups(groups, out.learning_rate)

    assert str(error.value) == message


def test_build_groups_plan_of_other_net(tiny_rules: Path) -> None:
    plan = plan_for_cell(tiny_rules, TinyNet())
    other = TinyNet()
    other.extra = Parameter(Tensor(np.zeros(3, np.float32)), name="extra")

    with pytest.raises(EmissionError) as error:
        build_groups(plan, other, 0.1)

    assert str(error.value) == (
        f"{tiny_rules}: the plan does not match the trainable parameters of TinyNet:\n"
        "  1 trainable but not in the plan: ['extra']\n"
        "  Hint: make the plan from this network after freezing, with records_from_cell(net) "
        "or plan_for_cell(rules, net)."
    )


def test_build_groups_plan_made_before_freezing(tiny_rules: Path) -> None:
    net = TinyNet()
    plan = plan_for_cell(tiny_rules, net)
    net.stem.weight.requires_grad = False
    del net.head

    with pytest.raises(EmissionError) as error:
        build_groups(plan, net, 0.1)

    assert str(error.value) == (
        f"{tiny_rules}: the plan does not match the trainable parameters of TinyNet:\n"
        "  2 planned but not in the network: ['head.weight', 'head.bias']\n"
        "  1 planned but now frozen (requires_grad=False): ['stem.weight']\n"
        "  Hint: make the plan from this network after freezing, with records_from_cell(net) "
        "or plan_for_cell(rules, net)."
    )


def test_build_groups_duplicate_parameter_names(tmp_path: Path) -> None:
    rules = tmp_path / "same.yaml"
    rules.write_text(
        "schema_version: 1\nname: same\nnum_layers: 1\nlayer_decay: 0.5\nrules:\n"
        "  - {pattern: 'first\\.', layer: 1}\n  - {pattern: 'second\\.', layer: head}\n",
        encoding="utf-8",
    )
    net = SameNamesNet()
    plan = make_plan(load_rules(rules), records_from_cell(net))

    with pytest.raises(EmissionError) as error:
        build_groups(plan, net, 0.1)

    assert str(error.value) == (
        "2 trainable Parameter.name value(s) occur more than once, such as ['bias', 'weight']; "
        "MindSpore keys optimizer groups by Parameter.name.\n  Hint: give every Parameter a "
        "unique name, or build the network from cells with auto_prefix=True."
    )
