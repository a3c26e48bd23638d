"""MindSpore adapter: records from networks and checkpoints, groups for optimizers.

This is the only module of grouprules that imports MindSpore; importing it
without MindSpore installed raises an ``ImportError`` that says how to install it.

The groups follow the contract of ``mindspore.nn.Optimizer`` (MindSpore 2.10,
``mindspore/nn/optim/optimizer.py``): a group dict may hold only ``params``,
``lr``, ``weight_decay``, ``grad_centralization`` and ``order_params`` (any other
key raises ``KeyError``); a 1-D lr must have the same length in every group and
in the optimizer's own ``learning_rate``; a group without ``weight_decay``
inherits the optimizer's. So every group here carries a concrete ``lr`` and an
explicit ``weight_decay``, and the group metadata is kept beside the dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

try:
    import mindspore
    import numpy as np
    from mindspore import Parameter, Tensor, nn
    from mindspore.nn.learning_rate_schedule import LearningRateSchedule
except ImportError as exc:  # pragma: no cover - exercised only without MindSpore
    raise ImportError(
        "grouprules.mindspore needs MindSpore: pip install 'grouprules[mindspore]' "
        "(mindspore==2.10.* with numpy<2)"
    ) from exc

from .engine import make_plan
from .errors import EmissionError
from .loading import load_rules
from .matching import RuleSet
from .plan import Group, Plan
from .records import ParamRecord

__all__ = [
    "OptimizerGroups",
    "ScaledSchedule",
    "build_groups",
    "param_groups",
    "plan_for_cell",
    "records_from_cell",
    "records_from_checkpoint",
]

LearningRate = Union[
    float, int, Sequence[float], "np.ndarray[Any, Any]", Tensor, LearningRateSchedule
]

#: Name prefixes of optimizer state that checkpoints saved during training carry.
OPTIMIZER_STATE_PREFIXES = (
    "moments.",
    "moment1.",
    "moment2.",
    "accum.",
    "adam_m.",
    "adam_v.",
    "learning_rate",
    "global_step",
    "beta1_power",
    "beta2_power",
    "scale_sense",
    "current_iterator_step",
    "last_overflow_iterator_step",
    "epoch_num",
    "step_num",
)


def _owner_types(cell: nn.Cell) -> tuple[str, ...]:
    return tuple(klass.__name__ for klass in type(cell).__mro__ if klass is not object)


def _named_parameters(net: nn.Cell) -> list[tuple[str, Parameter, nn.Cell]]:
    # Same walk as Cell.parameters_and_names, but it keeps aliases and owners.
    found = []
    for cell_name, cell in net.cells_and_names():
        for param_name, param in cell._params.items():
            if param is None:
                continue
            if param.inited_param is not None:
                param = param.inited_param
            full_name = f"{cell_name}.{param_name}" if cell_name else param_name
            found.append((full_name, param, cell))
    return found


def records_from_cell(net: nn.Cell) -> list[ParamRecord]:
    """Describe every parameter of a live network.

    The owner of a parameter is the cell that holds it directly (found through
    ``cells_and_names``), never an ancestor. A parameter reachable under two
    names (a tied embedding, say) gives two records with one identity.

    Args:
        net: The network.

    Returns:
        One record per parameter name, in ``parameters_and_names`` order with
        aliases where they occur.

    Example:
        >>> [r.name for r in records_from_cell(nn.Dense(3, 2))]
        ['weight', 'bias']
    """
    return [
        ParamRecord(
            name=name,
            shape=tuple(int(size) for size in param.shape),
            owner_types=_owner_types(cell),
            trainable=bool(param.requires_grad),
            identity=id(param),
        )
        for name, param, cell in _named_parameters(net)
    ]


def records_from_checkpoint(path: str | Path) -> list[ParamRecord]:
    """Describe the parameters stored in a ``.ckpt`` file.

    Optimizer state that training checkpoints carry (names starting with one of
    :data:`OPTIMIZER_STATE_PREFIXES`) is left out. A checkpoint carries no owning
    cell types, and its parameters are all taken as trainable.

    Args:
        path: The checkpoint file.

    Returns:
        One record per stored network parameter, in file order.

    Raises:
        EmissionError: The file cannot be loaded as a checkpoint.
    """
    try:
        params = mindspore.load_checkpoint(str(path))
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        raise EmissionError(f"{path}: cannot load the checkpoint: {exc}") from None
    return [
        ParamRecord(name, tuple(int(size) for size in value.shape))
        for name, value in params.items()
        if not name.startswith(OPTIMIZER_STATE_PREFIXES)
    ]


class ScaledSchedule(LearningRateSchedule):  # type: ignore[misc]
    """A learning-rate schedule multiplied by a constant factor.

    Args:
        base: The schedule to scale, shared by every group.
        scale: The constant factor, such as a group's lr_scale.

    Example:
        >>> base = nn.CosineDecayLR(0.0, 1.0, 10)
        >>> float(ScaledSchedule(base, 0.5)(Tensor(0, mindspore.int32)))
        0.5
    """

    def __init__(self, base: LearningRateSchedule, scale: float) -> None:
        super().__init__()
        self.base = base
        self.scale = float(scale)

    def construct(self, global_step: Tensor) -> Tensor:
        """Return the base lr at ``global_step`` times the factor."""
        return self.base(global_step) * self.scale


@dataclass(frozen=True)
class OptimizerGroups:
    """Arguments for a MindSpore optimizer, with the plan behind them.

    Pass ``groups`` as the optimizer's ``params`` and ``learning_rate`` as its
    ``learning_rate``; every group sets its own lr, so the latter only keeps
    MindSpore's length check of 1-D lrs satisfied.

    Attributes:
        groups: Group dicts, head first, then ``{"order_params": ...}``.
        learning_rate: The base lr, as given.
        metadata: The plan's group for each dict in ``groups`` (without the
            ``order_params`` entry), in the same order.
        plan: The plan the groups were built from.
    """

    groups: list[dict[str, Any]]
    learning_rate: Any
    metadata: tuple[Group, ...]
    plan: Plan


def _scaled_lr(base: Any, factor: float, group: str) -> Any:
    if isinstance(base, bool):
        raise EmissionError(f"lr must be a number, list, Tensor or schedule, not {base!r}")
    if isinstance(base, (int, float)):
        return float(base) * factor
    if isinstance(base, LearningRateSchedule):
        return ScaledSchedule(base, factor)
    if isinstance(base, Tensor):
        return Tensor(base.asnumpy() * np.float32(factor), mindspore.float32)
    values = np.asarray(base, dtype=np.float64)
    return [float(value) for value in values * factor]


def _check_base_lr(lr: Any) -> None:
    if isinstance(lr, bool) or lr is None:
        raise EmissionError(
            f"lr {lr!r} is not a learning rate.\n  expected: a float, a per-step list or "
            "1-D array, a Tensor of rank 0 or 1, or a LearningRateSchedule"
        )
    if isinstance(lr, (int, float)):
        values = np.asarray([lr], dtype=np.float64)
    elif isinstance(lr, LearningRateSchedule):
        return
    elif isinstance(lr, Tensor):
        if lr.ndim > 1:
            raise EmissionError(
                f"lr Tensor has shape {tuple(lr.shape)}; MindSpore accepts rank 0 (one value) "
                "or rank 1 (one value per step).\n  Hint: flatten it to one value per step."
            )
        values = lr.asnumpy().reshape(-1).astype(np.float64)
    else:
        try:
            values = np.asarray(list(lr), dtype=np.float64)
        except (TypeError, ValueError):
            raise EmissionError(
                f"lr of type {type(lr).__name__} is not a learning rate.\n  expected: a float, "
                "a per-step list or 1-D array, a Tensor of rank 0 or 1, or a "
                "LearningRateSchedule"
            ) from None
        if values.ndim != 1 or values.size == 0:
            raise EmissionError(
                f"a per-step lr must be a non-empty 1-D sequence, got shape {values.shape}"
            )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        bad = values[~np.isfinite(values) | (values < 0)][0]
        raise EmissionError(
            f"lr contains {bad}; MindSpore accepts only finite, non-negative learning rates"
        )


def build_groups(plan: Plan, net: nn.Cell, lr: LearningRate) -> OptimizerGroups:
    """Turn a plan into parameter groups for a MindSpore optimizer.

    Every group carries ``params``, a concrete ``lr`` (base lr times the group's
    lr_scale and lr_mult, of the same kind as ``lr``) and an explicit
    ``weight_decay``, 0.0 for no-decay groups whatever the optimizer's own
    ``weight_decay``. A last ``order_params`` entry keeps the optimizer's
    parameters in ``net.trainable_params()`` order, so gradients taken for those
    parameters line up.

    Args:
        plan: The plan, made from this network's parameters.
        net: The network the optimizer trains.
        lr: The base lr: a float, a per-step list or 1-D array, a Tensor of rank
            0 or 1, or a ``LearningRateSchedule`` (wrapped per group in a
            :class:`ScaledSchedule`).

    Returns:
        The groups, the base lr and the metadata.

    Raises:
        EmissionError: ``lr`` is of a kind or value MindSpore rejects, or the
            plan's parameters differ from the network's trainable parameters.

    Example:
        >>> out = build_groups(plan, net, 1e-3)  # doctest: +SKIP
        >>> opt = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)  # doctest: +SKIP
    """
    _check_base_lr(lr)
    by_name = {name: param for name, param, _ in _named_parameters(net)}
    trainable = list(net.trainable_params())
    trainable_names = {param.name for param in trainable}
    planned = {assignment.name for assignment in plan.assignments}

    missing = [name for name in planned if name not in by_name]
    extra = sorted(
        name
        for name, param in by_name.items()
        if param.requires_grad and name not in planned and name not in _aliases(plan)
    )
    if missing or extra:
        raise EmissionError(
            "the plan does not describe this network's trainable parameters: "
            f"{len(missing)} planned but absent (first: {missing[:3]}), {len(extra)} "
            f"trainable but not planned (first: {extra[:3]}).\n"
            "  Hint: make the plan from this network, with records_from_cell(net)."
        )

    groups: list[dict[str, Any]] = []
    for group in plan.groups:
        params = [by_name[name] for name in group.params]
        groups.append(
            {
                "params": params,
                "lr": _scaled_lr(lr, group.lr_factor, group.name),
                "weight_decay": float(group.weight_decay),
            }
        )
    grouped = {id(param) for entry in groups for param in entry["params"]}
    order = [param for param in trainable if id(param) in grouped]
    if len(order) != len(grouped) or len(trainable_names) != len(trainable):
        raise EmissionError(
            "the network's trainable parameters do not have unique names, so MindSpore "
            "cannot order the groups.\n  Hint: give every Parameter a unique name."
        )
    groups.append({"order_params": order})
    return OptimizerGroups(groups, lr, plan.groups, plan)


def _aliases(plan: Plan) -> set[str]:
    return {item.name for item in plan.skipped if item.reason == "shared"}


def plan_for_cell(
    rules: RuleSet | str | Path,
    net: nn.Cell,
    *,
    layer_decay: float | None = None,
    weight_decay: float | None = None,
) -> Plan:
    """Load ``rules`` if given a path and plan the groups of ``net``.

    Args:
        rules: A rule set, or the path of a rule file.
        net: The network.
        layer_decay: Overrides the file's ``layer_decay``.
        weight_decay: Overrides the file's ``weight_decay``.

    Returns:
        The plan.
    """
    rule_set = rules if isinstance(rules, RuleSet) else load_rules(rules)
    return make_plan(
        rule_set, records_from_cell(net), layer_decay=layer_decay, weight_decay=weight_decay
    )


def param_groups(
    rules: RuleSet | str | Path,
    net: nn.Cell,
    lr: LearningRate,
    *,
    layer_decay: float | None = None,
    weight_decay: float | None = None,
) -> OptimizerGroups:
    """Plan ``net`` with ``rules`` and build the optimizer groups in one call.

    Args:
        rules: A rule set, or the path of a rule file.
        net: The network the optimizer trains.
        lr: The base lr; see :func:`build_groups` for the accepted kinds.
        layer_decay: Overrides the file's ``layer_decay``.
        weight_decay: Overrides the file's ``weight_decay``.

    Returns:
        The groups, the base lr and the metadata.

    Example:
        >>> out = param_groups("rules/convnext.yaml", net, 1e-3)  # doctest: +SKIP
        >>> opt = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)  # doctest: +SKIP
    """
    plan = plan_for_cell(rules, net, layer_decay=layer_decay, weight_decay=weight_decay)
    return build_groups(plan, net, lr)
