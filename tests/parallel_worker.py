"""One rank of the data-parallel test in test_data_parallel.py, started by msrun.

Usage: ``msrun ... tests/parallel_worker.py OUTPUT_DIR STEPS``

Each rank trains the same tiny network on its own batches with a
``scheduled_optimizer`` SGD under ``ParallelMode.DATA_PARALLEL``, first in
GRAPH_MODE and then in PYNATIVE_MODE. Before every step it computes its local
gradients without updating anything, and it saves the parameters before and
after every step, the local gradients and the lr factor of each parameter to
``OUTPUT_DIR/rank<id>_<mode>.npz`` for the test to compare across ranks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mindspore
import numpy as np
from mindspore import Tensor, nn
from mindspore.communication import get_group_size, get_rank, init

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grouprules import loads_rules, make_plan  # noqa: E402
from grouprules.mindspore import records_from_cell  # noqa: E402
from grouprules.schedules import scheduled_optimizer  # noqa: E402

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

#: Base lr of each step; the test reads the same list from the saved file.
BASE_LRS = (0.2, 0.1, 0.05, 0.025)
BATCH_SIZE = 4


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


def train(mode_name: str, mode: int, rank: int, steps: int, output: Path) -> None:
    """Train ``steps`` steps in ``mode`` and save what the test compares."""
    mindspore.set_context(mode=mode)
    net = TinyNet()
    # Identical initial values on every rank, as a broadcast from rank 0 would give.
    init_rng = np.random.default_rng(0)
    for param in net.trainable_params():
        param.set_data(Tensor(init_rng.standard_normal(param.shape).astype(np.float32) * 0.5))

    plan = make_plan(loads_rules(RULES_TEXT), records_from_cell(net))
    optimizer = scheduled_optimizer(nn.SGD, plan, net, list(BASE_LRS[:steps]))
    loss_net = nn.WithLossCell(net, nn.MSELoss())
    train_step = nn.TrainOneStepCell(loss_net, optimizer)
    params = net.trainable_params()
    grad_fn = mindspore.value_and_grad(loss_net, None, params)

    factor = {item.name: item.lr_factor for item in plan.assignments}
    names = {id(param): name for name, param in net.parameters_and_names()}
    saved: dict[str, np.ndarray] = {
        "factors": np.array([factor[names[id(param)]] for param in params]),
        "base_lrs": np.array(BASE_LRS[:steps]),
    }
    # Each rank draws different batches, so the local gradients differ by rank.
    data_rng = np.random.default_rng(100 + rank)
    for step in range(steps):
        x = Tensor(data_rng.standard_normal((BATCH_SIZE, 3)).astype(np.float32))
        y = Tensor(data_rng.standard_normal((BATCH_SIZE, 2)).astype(np.float32))
        _, grads = grad_fn(x, y)
        for index, param in enumerate(params):
            saved[f"before_{step}_{index}"] = param.asnumpy().copy()
            saved[f"grad_{step}_{index}"] = grads[index].asnumpy()
        train_step(x, y)
        for index, param in enumerate(params):
            saved[f"after_{step}_{index}"] = param.asnumpy().copy()

    np.savez(output / f"rank{rank}_{mode_name}.npz", **saved)


def main() -> int:
    output = Path(sys.argv[1])
    steps = int(sys.argv[2])
    mindspore.set_device("CPU")
    init()
    mindspore.set_auto_parallel_context(
        parallel_mode=mindspore.ParallelMode.DATA_PARALLEL,
        gradients_mean=True,
        device_num=get_group_size(),
    )
    rank = get_rank()
    train("graph", mindspore.GRAPH_MODE, rank, steps, output)
    train("pynative", mindspore.PYNATIVE_MODE, rank, steps, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
