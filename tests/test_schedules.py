"""Tests for grouprules.schedules: group lrs that follow one base schedule."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import mindspore
import numpy as np
import pytest
from mindspore import Tensor, nn

from grouprules import EmissionError, loads_rules, make_plan
from grouprules.mindspore import build_groups, records_from_cell, records_from_checkpoint
from grouprules.plan import Plan
from grouprules.schedules import StepValues, scheduled_optimizer

RULES_TEXT = """\
schema_version: 1
name: tiny
num_layers: 2
layer_decay: 0.5
weight_decay: 0.0
rules:
  - {pattern: 'embed\\.', layer: 0}
  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: i + 1}
  - {pattern: 'head\\.', layer: head, lr_mult: 2.0}
"""

PEAK_LR = 0.1
DECAY_STEPS = 10
MODES = {"graph": mindspore.GRAPH_MODE, "pynative": mindspore.PYNATIVE_MODE}


class TinyNet(nn.Cell):
    """An embedding layer, two blocks and a head, named as the rules expect."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Dense(3, 4)
        self.blocks = nn.CellList([nn.Dense(4, 4), nn.Dense(4, 4)])
        self.head = nn.Dense(4, 2)

    def construct(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def cosine_lr(step: int) -> float:
    """The value of nn.CosineDecayLR(0.0, PEAK_LR, DECAY_STEPS) at ``step``."""
    return 0.5 * PEAK_LR * (1.0 + math.cos(math.pi * min(step, DECAY_STEPS) / DECAY_STEPS))


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = mindspore.get_context("mode")
    mindspore.set_context(mode=MODES[request.param])
    yield request.param
    mindspore.set_context(mode=previous)


@pytest.fixture
def graph_mode() -> Iterator[None]:
    previous = mindspore.get_context("mode")
    mindspore.set_context(mode=mindspore.GRAPH_MODE)
    yield
    mindspore.set_context(mode=previous)


def tiny_plan(net: nn.Cell) -> Plan:
    return make_plan(loads_rules(RULES_TEXT), records_from_cell(net))


def random_grads(net: nn.Cell, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal(param.shape).astype(np.float32) for param in net.trainable_params()]


def param_factors(net: nn.Cell, plan: Plan) -> list[float]:
    factor = {item.name: item.lr_factor for item in plan.assignments}
    names = {id(param): name for name, param in net.parameters_and_names()}
    return [factor[names[id(param)]] for param in net.trainable_params()]


def check_sgd_steps(net: nn.Cell, optimizer: nn.Optimizer, plan: Plan, lrs: list[float]) -> None:
    """Step ``optimizer`` once per lr and check each parameter moved by its group lr."""
    params = net.trainable_params()
    factors = param_factors(net, plan)
    rng = np.random.default_rng(0)
    for step, base_lr in enumerate(lrs):
        grads = random_grads(net, rng)
        before = [param.asnumpy().copy() for param in params]
        optimizer(tuple(Tensor(grad) for grad in grads))
        for param, old, grad, factor in zip(params, before, grads, factors, strict=True):
            expected_move = base_lr * factor * grad
            np.testing.assert_allclose(
                old - param.asnumpy(),
                expected_move,
                rtol=1e-4,
                atol=1e-7,
                err_msg=f"{param.name} at step {step}",
            )


def test_sgd_schedule_moves_each_group(mode: str) -> None:
    net = TinyNet()
    plan = tiny_plan(net)
    schedule = nn.CosineDecayLR(0.0, PEAK_LR, DECAY_STEPS)
    optimizer = scheduled_optimizer(nn.SGD, plan, net, schedule)

    check_sgd_steps(net, optimizer, plan, [cosine_lr(step) for step in range(4)])

    assert int(optimizer.lr_schedule_step.asnumpy()[0]) == 4


def test_sgd_step_list_moves_each_group(mode: str) -> None:
    net = TinyNet()
    plan = tiny_plan(net)
    lrs = [0.05, 0.1, 0.02, 0.07]
    optimizer = scheduled_optimizer(nn.SGD, plan, net, lrs)

    check_sgd_steps(net, optimizer, plan, lrs)


def test_adamw_matches_per_group_schedules(mode: str) -> None:
    mindspore.set_seed(1)
    net = TinyNet()
    reference = TinyNet()
    for target, source in zip(reference.trainable_params(), net.trainable_params(), strict=True):
        target.set_data(Tensor(source.asnumpy().copy()))
    rules = loads_rules(RULES_TEXT.replace("weight_decay: 0.0", "weight_decay: 0.05"))

    plan = make_plan(rules, records_from_cell(net))
    scheduled = scheduled_optimizer(
        nn.AdamWeightDecay, plan, net, nn.CosineDecayLR(0.0, PEAK_LR, DECAY_STEPS)
    )
    reference_plan = make_plan(rules, records_from_cell(reference))
    out = build_groups(reference_plan, reference, nn.CosineDecayLR(0.0, PEAK_LR, DECAY_STEPS))
    straightforward = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)

    rng = np.random.default_rng(2)
    for _ in range(3):
        grads = random_grads(net, rng)
        scheduled(tuple(Tensor(grad) for grad in grads))
        straightforward(tuple(Tensor(grad) for grad in grads))

    for mine, theirs in zip(net.trainable_params(), reference.trainable_params(), strict=True):
        np.testing.assert_allclose(mine.asnumpy(), theirs.asnumpy(), rtol=1e-5, atol=1e-7)


def test_group_lrs_report_latest_step(graph_mode: None) -> None:
    net = TinyNet()
    plan = tiny_plan(net)
    optimizer = scheduled_optimizer(nn.SGD, plan, net, nn.CosineDecayLR(0.0, PEAK_LR, DECAY_STEPS))
    names = [group.name for group in plan.groups]

    assert optimizer.group_lrs() == {name: 0.0 for name in names}

    grads = tuple(Tensor(np.zeros(param.shape, np.float32)) for param in net.trainable_params())
    for _ in range(3):
        optimizer(grads)

    lrs = optimizer.group_lrs()
    assert list(lrs) == names
    for group in plan.groups:
        assert lrs[group.name] == pytest.approx(cosine_lr(2) * group.lr_factor, rel=1e-6)


def test_optimizer_metadata(graph_mode: None) -> None:
    net = TinyNet()
    plan = tiny_plan(net)

    optimizer = scheduled_optimizer(nn.SGD, plan, net, [0.1, 0.2], momentum=0.9)

    assert type(optimizer).__name__ == "ScheduledSGD"
    assert isinstance(optimizer, nn.SGD)
    assert optimizer.plan is plan
    assert optimizer.group_names == (
        "layer_3_decay_lrx2",
        "layer_2_decay",
        "layer_1_decay",
        "layer_0_decay",
    )
    assert optimizer.group_lr_factors == (2.0, 0.5, 0.25, 0.125)
    assert float(optimizer.momentum.asnumpy()) == pytest.approx(0.9)
    assert type(scheduled_optimizer(nn.SGD, plan, net, [0.1])) is type(optimizer)


def test_schedule_step_in_checkpoint(graph_mode: None, tmp_path: Path) -> None:
    net = TinyNet()
    optimizer = scheduled_optimizer(nn.SGD, tiny_plan(net), net, [0.1, 0.2, 0.3])
    grads = tuple(Tensor(np.zeros(param.shape, np.float32)) for param in net.trainable_params())
    optimizer(grads)
    optimizer(grads)
    path = tmp_path / "optimizer.ckpt"

    mindspore.save_checkpoint(optimizer, str(path))
    saved = mindspore.load_checkpoint(str(path))

    assert saved["lr_schedule_step"].asnumpy().tolist() == [2]


def test_training_checkpoint_plans_network(graph_mode: None, tmp_path: Path) -> None:
    net = TinyNet()
    optimizer = scheduled_optimizer(nn.SGD, tiny_plan(net), net, [0.1, 0.2])
    train_step = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()), optimizer)
    train_step(Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((2, 2), np.float32)))
    path = tmp_path / "train.ckpt"
    mindspore.save_checkpoint(train_step, str(path))

    records = records_from_checkpoint(path)

    assert "lr_schedule_step" in mindspore.load_checkpoint(str(path))
    assert [record.name for record in records] == [name for name, _ in net.parameters_and_names()]


def test_rule_file_path_is_planned(graph_mode: None, tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(RULES_TEXT)
    net = TinyNet()

    optimizer = scheduled_optimizer(nn.SGD, path, net, [0.1])

    assert optimizer.plan.source == str(path)
    assert len(optimizer.group_names) == 4


def test_mindcv_adamw_advances_schedule(graph_mode: None) -> None:
    from mindcv.optim.adamw import AdamW

    net = TinyNet()
    plan = tiny_plan(net)
    optimizer = scheduled_optimizer(AdamW, plan, net, [0.3, 0.2, 0.1])
    grads = tuple(Tensor(np.ones(param.shape, np.float32)) for param in net.trainable_params())

    for _ in range(3):
        optimizer(grads)

    assert int(optimizer.lr_schedule_step.asnumpy()[0]) == 3
    assert optimizer.group_lrs()["layer_2_decay"] == pytest.approx(0.1 * 0.5, rel=1e-6)


def test_model_train_runs_schedule(graph_mode: None) -> None:
    from mindspore import dataset
    from mindspore.train import Model

    net = TinyNet()
    plan = tiny_plan(net)
    optimizer = scheduled_optimizer(nn.SGD, plan, net, [0.1, 0.05, 0.025, 0.0125])
    rng = np.random.default_rng(3)
    samples = [
        (rng.standard_normal(3).astype(np.float32), np.int32(rng.integers(2))) for _ in range(8)
    ]
    data = dataset.GeneratorDataset(samples, ["x", "label"], shuffle=False).batch(2)
    model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True), optimizer)

    model.train(1, data, dataset_sink_mode=False)

    assert int(optimizer.lr_schedule_step.asnumpy()[0]) == 4
    assert optimizer.group_lrs()["layer_3_decay_lrx2"] == pytest.approx(0.0125 * 2.0, rel=1e-6)


def test_model_train_sink_mode_runs_schedule(graph_mode: None) -> None:
    from mindspore import dataset
    from mindspore.train import Model

    net = TinyNet()
    plan = tiny_plan(net)
    optimizer = scheduled_optimizer(nn.SGD, plan, net, [0.1, 0.05, 0.025, 0.0125])
    rng = np.random.default_rng(4)
    samples = [
        (rng.standard_normal(3).astype(np.float32), np.int32(rng.integers(2))) for _ in range(8)
    ]
    data = dataset.GeneratorDataset(samples, ["x", "label"], shuffle=False).batch(2)
    model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True), optimizer)

    model.train(1, data, dataset_sink_mode=True)

    assert int(optimizer.lr_schedule_step.asnumpy()[0]) == 4
    assert optimizer.group_lrs()["layer_1_decay"] == pytest.approx(0.0125 * 0.25, rel=1e-6)


def test_step_past_list_end_raises(graph_mode: None) -> None:
    net = TinyNet()
    optimizer = scheduled_optimizer(nn.SGD, tiny_plan(net), net, [0.1, 0.2])
    grads = tuple(Tensor(np.zeros(param.shape, np.float32)) for param in net.trainable_params())
    optimizer(grads)
    optimizer(grads)

    with pytest.raises(
        RuntimeError, match="For 'Gather', the 'input_indices' should be in the range"
    ):
        optimizer(grads)


def test_step_values_reads_each_step(graph_mode: None) -> None:
    schedule = StepValues(np.array([0.5, 0.25, 0.125]))

    values = [float(schedule(Tensor(np.array([step], np.int32))).asnumpy()[0]) for step in range(3)]

    assert values == [0.5, 0.25, 0.125]


class _NoGetLr(nn.Optimizer):  # type: ignore[misc]
    def construct(self, gradients: tuple[Tensor, ...]) -> bool:
        return True


@pytest.mark.parametrize(
    ("optimizer_class", "message"),
    [
        (
            nn.SGD(TinyNet().trainable_params()),
            "optimizer_class is an instance of SGD, not a class.\n"
            "  Hint: pass the class, such as nn.SGD; scheduled_optimizer builds the "
            "optimizer itself.",
        ),
        (
            dict,
            "optimizer_class is <class 'dict'>, not a subclass of mindspore.nn.Optimizer.\n"
            "  Hint: pass an optimizer class such as nn.AdamWeightDecay or nn.SGD; the "
            "optimizers of mindspore.experimental.optim keep their lrs in param_groups and "
            "take their own lr_scheduler instead.",
        ),
        (
            _NoGetLr,
            "_NoGetLr.construct never calls self.get_lr(), so the scheduled group lrs would "
            "not reach its update.\n"
            "  Hint: use build_groups with a LearningRateSchedule for this optimizer.",
        ),
    ],
    ids=["instance", "not-optimizer", "no-get-lr"],
)
def test_bad_optimizer_class_rejected(optimizer_class: object, message: str) -> None:
    net = TinyNet()

    with pytest.raises(EmissionError) as caught:
        scheduled_optimizer(optimizer_class, tiny_plan(net), net, [0.1])  # type: ignore[arg-type]

    assert str(caught.value) == message


def test_experimental_optimizer_rejected() -> None:
    from mindspore.experimental.optim import AdamW

    net = TinyNet()

    with pytest.raises(EmissionError, match="not a subclass of mindspore.nn.Optimizer"):
        scheduled_optimizer(AdamW, tiny_plan(net), net, [0.1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            0.1,
            "schedule is the constant 0.1, but a constant lr needs no schedule.\n"
            "  Hint: build float-lr groups with build_groups(plan, net, lr).",
        ),
        (
            True,
            "schedule is True, which is not a learning-rate schedule.\n"
            "  expected: a LearningRateSchedule cell, or one lr per optimizer step as a "
            "list, tuple, 1-D numpy array or 1-D Tensor",
        ),
        (
            "cosine",
            "schedule is 'cosine', which is not a learning-rate schedule.\n"
            "  expected: a LearningRateSchedule cell, or one lr per optimizer step as a "
            "list, tuple, 1-D numpy array or 1-D Tensor",
        ),
        (
            [],
            "schedule has shape (0,), but per-step lrs must be a non-empty 1-D sequence, "
            "one value per optimizer step.",
        ),
        (
            [[0.1, 0.2]],
            "schedule has shape (1, 2), but per-step lrs must be a non-empty 1-D sequence, "
            "one value per optimizer step.",
        ),
        (
            [0.1, -0.2],
            "schedule[1] is -0.2, but MindSpore trains only with finite, non-negative "
            "learning rates.",
        ),
        (
            [0.1, float("nan")],
            "schedule[1] is nan, but MindSpore trains only with finite, non-negative "
            "learning rates.",
        ),
        (
            ["a"],
            "schedule is a list that does not hold numbers.\n"
            "  expected: a LearningRateSchedule cell, or one lr per optimizer step as a "
            "list, tuple, 1-D numpy array or 1-D Tensor",
        ),
    ],
    ids=["constant", "bool", "string", "empty", "2d", "negative", "nan", "not-numbers"],
)
def test_bad_schedule_rejected(schedule: object, message: str) -> None:
    net = TinyNet()

    with pytest.raises(EmissionError) as caught:
        scheduled_optimizer(nn.SGD, tiny_plan(net), net, schedule)  # type: ignore[arg-type]

    assert str(caught.value) == message


def test_tensor_schedule_accepted(graph_mode: None) -> None:
    net = TinyNet()

    optimizer = scheduled_optimizer(
        nn.SGD, tiny_plan(net), net, Tensor(np.array([0.1, 0.2], np.float32))
    )

    assert isinstance(optimizer.lr_schedule, StepValues)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "params",
            "scheduled_optimizer sets params= itself, because the groups come from the plan.\n"
            "  Hint: remove params=.",
        ),
        (
            "learning_rate",
            "scheduled_optimizer sets learning_rate= itself, because every group's lr comes "
            "from the schedule.\n"
            "  Hint: pass the base lr as the schedule argument.",
        ),
        (
            "weight_decay",
            "scheduled_optimizer sets weight_decay= itself, because every group sets its own "
            "weight_decay.\n"
            "  Hint: set weight_decay in the rule file, or pass weight_decay= to plan_for_cell.",
        ),
    ],
)
def test_reserved_argument_rejected(argument: str, message: str) -> None:
    net = TinyNet()

    with pytest.raises(EmissionError) as caught:
        scheduled_optimizer(nn.SGD, tiny_plan(net), net, [0.1], **{argument: 0.01})

    assert str(caught.value) == message


def test_plan_of_other_network_rejected() -> None:
    net = TinyNet()
    other = nn.Dense(3, 2)

    with pytest.raises(
        EmissionError, match="the plan does not match the trainable parameters of Dense"
    ):
        scheduled_optimizer(nn.SGD, tiny_plan(net), other, [0.1])
