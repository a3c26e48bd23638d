"""MindSpore adapter: parameter records from networks and checkpoints, optimizer groups.

This is the only module of grouprules that imports MindSpore; importing it
without MindSpore installed raises an ``ImportError`` with the install command.

The groups follow the contract of ``mindspore.nn.Optimizer`` in MindSpore 2.10
(``mindspore/nn/optim/optimizer.py``):

* a group dict may hold only ``params``, ``lr``, ``weight_decay``,
  ``grad_centralization`` and ``order_params``, and any other key raises ``KeyError``;
* a group without ``weight_decay`` or ``lr`` inherits the optimizer's own value;
* every 1-D lr, in the groups and in the optimizer's ``learning_rate``, must have
  the same length;
* ``order_params`` reorders the parameters by ``Parameter.name``, so the names
  must be unique.

So every group built here carries a concrete ``lr`` and an explicit
``weight_decay``, and the plan's metadata sits beside the dicts, not inside them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
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
from .errors import CheckpointError, EmissionError
from .loading import load_rules
from .matching import RuleSet
from .plan import Group, Plan
from .records import ParamRecord

__all__ = [
    "CheckpointError",
    "LearningRate",
    "OptimizerGroups",
    "ScaledSchedule",
    "build_groups",
    "check_groups",
    "param_groups",
    "plan_for_cell",
    "records_from_cell",
    "records_from_checkpoint",
]

logger = logging.getLogger(__name__)

LearningRate = Union[
    float, int, Sequence[float], "np.ndarray[Any, Any]", Tensor, LearningRateSchedule
]

#: Keys that ``nn.Optimizer`` reads from a group dict (MindSpore 2.10).
OPTIMIZER_GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")

#: Prefixes that MindSpore 2.10 and mindcv 0.3 optimizers give the per-parameter
#: state they clone from the network parameters (``moment1.<name>``, ...).
OPTIMIZER_STATE_PREFIXES = frozenset(
    {
        "accu_grads", "accum", "accum_update", "adam_m", "adam_v", "ax", "ax_",
        "exp_avg", "exp_avg_sq", "exp_inf", "grad_accumulation", "lamb_m", "lamb_v",
        "linear", "lion_m", "max_exp_avg_sq", "mean_grad", "mean_square", "moment",
        "moment1", "moment2", "moment3", "moments", "momentum_buf", "nadam_m", "nadam_v",
        "prev", "prev_gradient", "stat", "step_size", "vhat",
    }
)  # fmt: skip

#: Single values that optimizers and training wrappers store beside the network.
OPTIMIZER_SCALAR_NAMES = frozenset(
    {
        "afactor_step", "beta1_power", "beta2_power", "cov_step", "current_iterator_step",
        "epoch_num", "global_step", "last_overflow_iterator_step", "learning_rate",
        "lr_schedule_step", "momentum", "mu_schedule", "scale_sense", "step_num",
    }
)  # fmt: skip

_MAX_LISTED = 5

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


# --- records -----------------------------------------------------------------


def _owner_types(cell: nn.Cell) -> tuple[str, ...]:
    # Stop at nn.Cell: the C++ bases behind it are no cell types a rule can name.
    return tuple(klass.__name__ for klass in type(cell).__mro__ if issubclass(klass, nn.Cell))


def _named_parameters(net: nn.Cell) -> list[tuple[str, Parameter, nn.Cell]]:
    # The walk of Cell.parameters_and_names, but it keeps aliases and owners.
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

    The owner of a parameter is the cell that contains it directly (found through
    ``cells_and_names``), never an ancestor. A parameter reachable under two
    names (a tied embedding, say) gives two records with one identity. Names are
    the attribute paths in the cell tree, which ``Parameter.name`` may differ from
    when a wrapper cell renamed the parameters.

    Args:
        net: The network.

    Returns:
        One record per parameter name, in ``parameters_and_names`` order, with
        each alias right after the other parameters of its owning cell.

    Example:
        >>> [(r.name, r.shape) for r in records_from_cell(nn.Dense(3, 2))]
        [('weight', (2, 3)), ('bias', (2,))]
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


def _is_optimizer_state(name: str, shapes: dict[str, tuple[int, ...]]) -> bool:
    if name in OPTIMIZER_SCALAR_NAMES or name.startswith("learning_rate_group_"):
        return True
    prefix, _, rest = name.partition(".")
    return prefix in OPTIMIZER_STATE_PREFIXES and shapes.get(rest) == shapes[name]


def records_from_checkpoint(path: str | Path) -> list[ParamRecord]:
    """Describe the network parameters stored in a ``.ckpt`` file.

    A checkpoint saved from a training cell also contains optimizer state. An entry
    is taken for optimizer state, and left out, when it is one of
    :data:`OPTIMIZER_SCALAR_NAMES`, a ``learning_rate_group_<n>`` entry, or a
    ``<prefix>.<name>`` copy with a prefix from :data:`OPTIMIZER_STATE_PREFIXES`
    of another entry ``<name>`` of the same shape. The names left out are logged
    at INFO level on the ``grouprules.mindspore`` logger. A checkpoint stores no
    owning cell types and no ``requires_grad`` flags, so every record has empty
    ``owner_types`` and is trainable.

    Args:
        path: The checkpoint file.

    Returns:
        One record per network parameter, in file order.

    Raises:
        CheckpointError: The file cannot be loaded as a checkpoint.

    Example:
        >>> mindspore.save_checkpoint(nn.Dense(3, 2), "dense.ckpt")  # doctest: +SKIP
        >>> [r.name for r in records_from_checkpoint("dense.ckpt")]  # doctest: +SKIP
        ['weight', 'bias']
    """
    try:
        params = mindspore.load_checkpoint(str(path))
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: cannot load the checkpoint: {exc}\n"
            "  Hint: pass a file written by mindspore.save_checkpoint, or use --params "
            "with a parameter dump."
        ) from None

    shapes = {name: tuple(int(size) for size in value.shape) for name, value in params.items()}
    state = [name for name in shapes if _is_optimizer_state(name, shapes)]
    if state:
        logger.info(
            "%s: left out %d optimizer-state entries, such as %s",
            path,
            len(state),
            ", ".join(state[:_MAX_LISTED]),
        )
    skipped = set(state)
    return [ParamRecord(name, shape) for name, shape in shapes.items() if name not in skipped]


# --- learning rates ----------------------------------------------------------


class ScaledSchedule(LearningRateSchedule):  # type: ignore[misc]
    """A learning-rate schedule multiplied by a constant factor.

    The base schedule is shared, not copied: every group's ScaledSchedule calls
    the same cell. The base keeps its parameter names, because this cell does
    not prefix them.

    Args:
        base: The schedule to scale.
        scale: The constant factor, such as a group's lr_scale times lr_mult.

    Example:
        >>> base = nn.CosineDecayLR(0.0, 1.0, 10)
        >>> float(ScaledSchedule(base, 0.5)(Tensor(0, mindspore.int32)))
        0.5
    """

    def __init__(self, base: LearningRateSchedule, scale: float) -> None:
        super().__init__()
        self._auto_prefix = False
        self.base = base
        self.scale = float(scale)

    def construct(self, global_step: Tensor) -> Tensor:
        """Return the base lr at ``global_step`` times the factor."""
        return self.base(global_step) * self.scale


_LR_KINDS = (
    "a non-negative number, a non-empty per-step list or 1-D array, a Tensor of rank 0 "
    "or 1, or a LearningRateSchedule"
)


def _lr_values(lr: Any, where: str) -> FloatArray | None:
    """Return the lr values as float64 (0-D or 1-D), or None for a schedule."""
    if isinstance(lr, LearningRateSchedule):
        return None
    if lr is None or isinstance(lr, (bool, str, bytes, dict)):
        raise EmissionError(
            f"{where} is {lr!r}, which is not a learning rate.\n  expected: {_LR_KINDS}"
        )

    values: FloatArray
    if isinstance(lr, Tensor):
        if lr.ndim > 1:
            raise EmissionError(
                f"{where} is a Tensor of shape {tuple(lr.shape)}; MindSpore accepts a Tensor "
                "lr of rank 0 (one value) or rank 1 (one value per step).\n"
                "  Hint: flatten it to one value per step."
            )
        values = lr.asnumpy().astype(np.float64)
    elif isinstance(lr, (int, float, np.number)) or (isinstance(lr, np.ndarray) and lr.ndim == 0):
        values = np.asarray(float(lr))
    elif isinstance(lr, Iterable):
        try:
            values = np.asarray(lr, dtype=np.float64)
        except (TypeError, ValueError):
            raise EmissionError(
                f"{where} is a {type(lr).__name__} that does not contain numbers.\n"
                f"  expected: {_LR_KINDS}"
            ) from None
        if values.ndim != 1:
            raise EmissionError(
                f"{where} has shape {values.shape}; a per-step lr must be 1-D, one value per step."
            )
    else:
        raise EmissionError(
            f"{where} is a {type(lr).__name__}, which is not a learning rate.\n"
            f"  expected: {_LR_KINDS}"
        )

    if values.ndim == 1 and values.size == 0:
        raise EmissionError(
            f"{where} is empty; a per-step lr needs one value for each optimizer step."
        )
    bad = values[~np.isfinite(values) | (values < 0)]
    if bad.size:
        verb = "is" if values.ndim == 0 else "contains"
        raise EmissionError(
            f"{where} {verb} {bad.reshape(-1)[0]}; MindSpore trains only with finite, "
            "non-negative learning rates."
        )
    return values


def _materialize_lr(lr: Any) -> Any:
    """Return ``lr`` in a form that can be read twice: an iterator becomes a list."""
    if isinstance(lr, (LearningRateSchedule, Tensor, np.ndarray, Sequence)):
        return lr
    if isinstance(lr, Iterable) and not isinstance(lr, (str, bytes, dict)):
        return list(lr)
    return lr


def _normalized_lr(lr: Any, values: FloatArray | None) -> Any:
    """Return the base lr as the optimizer's ``learning_rate`` argument."""
    if values is None or isinstance(lr, Tensor):
        return lr
    if values.ndim == 0:
        return float(values)
    return [float(value) for value in values]


def _scaled_lr(lr: Any, values: FloatArray | None, factor: float) -> Any:
    """Return base lr times ``factor``, of the same kind as the base lr."""
    if values is None:
        return ScaledSchedule(lr, factor)
    scaled = values * factor
    if isinstance(lr, Tensor):
        return Tensor(scaled.astype(np.float32), mindspore.float32)
    if scaled.ndim == 0:
        return float(scaled)
    return [float(value) for value in scaled]


# --- emission ----------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerGroups:
    """Arguments for a MindSpore optimizer, with the plan behind them.

    Pass ``groups`` as the optimizer's ``params`` and ``learning_rate`` as its
    ``learning_rate``. Every group sets its own lr, so ``learning_rate`` only
    serves MindSpore's check that every 1-D lr has the same length.

    Attributes:
        groups: Group dicts in the plan's order (head first), then one
            ``{"order_params": [...]}`` dict.
        learning_rate: The base lr, with a number as ``float``, a per-step
            sequence as a ``list`` of floats, and a Tensor or schedule unchanged.
        metadata: The plan's group for each dict in ``groups`` but the last, in
            the same order.
        plan: The plan the groups were built from.
    """

    groups: list[dict[str, Any]]
    learning_rate: Any
    metadata: tuple[Group, ...]
    plan: Plan

    def group(self, name: str) -> dict[str, Any]:
        """Return the group dict of the plan group called ``name``.

        Raises:
            KeyError: No group has that name.
        """
        for meta, entry in zip(self.metadata, self.groups, strict=False):
            if meta.name == name:
                return entry
        known = ", ".join(meta.name for meta in self.metadata)
        raise KeyError(f"no group named {name!r}; the groups are: {known}")

    def lr_at(self, name: str, step: int) -> float:
        """Return the lr that group ``name`` trains with at optimizer step ``step``.

        A schedule is evaluated by calling its :class:`ScaledSchedule` cell, which
        compiles a small graph the first time in GRAPH_MODE.

        Raises:
            KeyError: No group has that name.
            IndexError: ``step`` is past the end of a per-step lr.
        """
        lr = self.group(name)["lr"]
        if isinstance(lr, LearningRateSchedule):
            value = lr(Tensor(np.array([step], dtype=np.int32)))
            return float(value.asnumpy().reshape(-1)[0])
        values = lr.asnumpy() if isinstance(lr, Tensor) else np.asarray(lr, dtype=np.float64)
        if values.ndim == 0:
            return float(values)
        if not 0 <= step < values.size:
            raise IndexError(f"step {step} is outside the per-step lr of {values.size} steps")
        return float(values[step])


def _group_label(index: int, labels: Sequence[str] | None) -> str:
    if labels is not None and index < len(labels):
        return f"groups[{index}] ({labels[index]})"
    return f"groups[{index}]"


def _check_group_params(entry: dict[str, Any], where: str, seen: dict[int, str]) -> None:
    params = entry.get("params")
    if not isinstance(params, list) or not params:
        raise EmissionError(
            f"{where}: params must be a non-empty list of Parameters, got {params!r:.80}\n"
            "  Hint: leave empty groups out; MindSpore rejects them."
        )
    for param in params:
        if not isinstance(param, Parameter):
            raise EmissionError(
                f"{where}: params contains a {type(param).__name__}; MindSpore accepts only "
                "Parameter objects."
            )
        if id(param) in seen:
            raise EmissionError(
                f"{where}: parameter {param.name!r} is also in {seen[id(param)]}; MindSpore "
                "accepts each parameter in one group only."
            )
        seen[id(param)] = where


def _check_weight_decay(value: Any, where: str) -> None:
    if isinstance(value, nn.Cell):
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise EmissionError(
            f"{where}: weight_decay is {value!r}; MindSpore accepts a finite number >= 0 or a Cell."
        )


def _check_order_params(order: Any, grouped: dict[int, str]) -> None:
    if not isinstance(order, list) or not all(isinstance(item, Parameter) for item in order):
        raise EmissionError("order_params must be a list of Parameters")
    names = [param.name for param in order]
    if len(order) != len(grouped) or {id(param) for param in order} != set(grouped):
        raise EmissionError(
            f"order_params lists {len(order)} parameters, but the groups contain {len(grouped)}; "
            "MindSpore needs order_params to list every grouped parameter once."
        )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise EmissionError(
            f"{len(duplicates)} parameter name(s) occur more than once, such as "
            f"{duplicates[:_MAX_LISTED]}; MindSpore orders the groups by Parameter.name.\n"
            "  Hint: give every Parameter a unique name."
        )


def check_groups(
    groups: list[dict[str, Any]],
    learning_rate: Any,
    labels: Sequence[str] | None = None,
) -> None:
    """Check group dicts and a ``learning_rate`` against what ``nn.Optimizer`` accepts.

    :func:`build_groups` runs this on its own output. Call it yourself after
    changing the groups, or before passing a ``learning_rate`` other than
    :attr:`OptimizerGroups.learning_rate`. Beyond MindSpore's own checks, it
    requires an explicit ``lr`` and ``weight_decay`` in every group (so nothing
    is inherited from the optimizer) and finite, non-negative lr values.

    Args:
        groups: The optimizer's ``params`` argument: group dicts, optionally
            ending with an ``{"order_params": [...]}`` dict.
        learning_rate: The optimizer's ``learning_rate`` argument.
        labels: Names of the groups, shown in error messages.

    Raises:
        EmissionError: MindSpore would reject the arguments, or a group leaves
            its lr or weight decay to the optimizer.

    Example:
        >>> dense = nn.Dense(3, 2)
        >>> groups = [{"params": [dense.weight], "lr": [0.1, 0.2], "weight_decay": 0.01},
        ...           {"params": [dense.bias], "lr": [0.1, 0.2], "weight_decay": 0.0}]
        >>> check_groups(groups, learning_rate=[0.1, 0.2])
        >>> try:
        ...     check_groups(groups, learning_rate=[0.1, 0.2, 0.3])
        ... except EmissionError as error:
        ...     print(str(error).splitlines()[0])
        groups[0]: lr has 2 steps, but learning_rate has 3.
    """
    if not isinstance(groups, list) or not groups:
        raise EmissionError("the groups must be a non-empty list of dicts")

    lengths: list[tuple[str, int]] = []
    values = _lr_values(learning_rate, "learning_rate")
    if values is not None and values.ndim == 1:
        lengths.append(("learning_rate", values.size))

    grouped: dict[int, str] = {}
    order: Any = None
    for index, entry in enumerate(groups):
        where = _group_label(index, labels)
        if not isinstance(entry, dict):
            raise EmissionError(f"{where} is a {type(entry).__name__}, not a dict")
        unknown = sorted(key for key in entry if key not in OPTIMIZER_GROUP_KEYS)
        if unknown:
            raise EmissionError(
                f"{where} has key(s) {unknown} that MindSpore rejects; a group may contain only "
                f"{list(OPTIMIZER_GROUP_KEYS)}.\n  Hint: keep metadata beside the groups."
            )
        if "order_params" in entry:
            if len(entry) > 1 or index != len(groups) - 1:
                raise EmissionError(
                    f"{where}: order_params must be alone in the last dict of the groups"
                )
            order = entry["order_params"]
            continue

        _check_group_params(entry, where, grouped)
        for key in ("lr", "weight_decay"):
            if key not in entry:
                raise EmissionError(
                    f"{where} has no {key!r}, so it would take the optimizer's value.\n"
                    f"  Hint: set {key!r} in every group."
                )
        _check_weight_decay(entry["weight_decay"], where)
        group_values = _lr_values(entry["lr"], f"{where}: lr")
        if group_values is not None and group_values.ndim == 1:
            lengths.append((f"{where}: lr", group_values.size))

    if len(grouped) == 0:
        raise EmissionError("the groups contain no parameters")
    if order is not None:
        _check_order_params(order, grouped)

    for where, length in lengths:
        if length != lengths[0][1]:
            first_where, first_length = lengths[0]
            raise EmissionError(
                f"{where} has {length} steps, but {first_where} has {first_length}.\n"
                "  MindSpore requires every per-step lr, in the groups and in learning_rate, "
                "to have the same length.\n  Hint: build all of them from one per-step list."
            )


def _check_plan_matches(plan: Plan, net: nn.Cell, by_name: dict[str, Parameter]) -> None:
    planned = [assignment.name for assignment in plan.assignments]
    aliases = {item.name for item in plan.skipped if item.reason == "shared"}
    absent = [name for name in planned if name not in by_name]
    frozen = [name for name in planned if name in by_name and not by_name[name].requires_grad]
    planned_set = set(planned)
    unplanned = [
        name
        for name, param in by_name.items()
        if param.requires_grad and name not in planned_set and name not in aliases
    ]
    problems = []
    if absent:
        problems.append(f"{len(absent)} planned but not in the network: {absent[:_MAX_LISTED]}")
    if frozen:
        problems.append(
            f"{len(frozen)} planned but now frozen (requires_grad=False): {frozen[:_MAX_LISTED]}"
        )
    if unplanned:
        problems.append(
            f"{len(unplanned)} trainable but not in the plan: {unplanned[:_MAX_LISTED]}"
        )
    if problems:
        body = "\n".join(f"  {problem}" for problem in problems)
        raise EmissionError(
            f"{plan.source}: the plan does not match the trainable parameters of "
            f"{type(net).__name__}:\n{body}\n"
            "  Hint: make the plan from this network after freezing, with "
            "records_from_cell(net) or plan_for_cell(rules, net)."
        )


def _check_unique_names(trainable: list[Parameter]) -> None:
    names = [param.name for param in trainable]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise EmissionError(
            f"{len(duplicates)} trainable Parameter.name value(s) occur more than once, such "
            f"as {duplicates[:_MAX_LISTED]}; MindSpore keys optimizer groups by "
            "Parameter.name.\n  Hint: give every Parameter a unique name, or build the "
            "network from cells with auto_prefix=True."
        )


def build_groups(plan: Plan, net: nn.Cell, lr: LearningRate) -> OptimizerGroups:
    """Turn a plan into parameter groups for a MindSpore optimizer.

    Every group carries ``params``, a concrete ``lr`` and an explicit
    ``weight_decay`` (0.0 for no-decay groups, whatever the optimizer's own
    ``weight_decay``). The group lr is the base lr times the group's lr_scale and
    lr_mult, of the same kind as ``lr``: a float, a list of floats per step, a
    float32 Tensor of the same shape, or a :class:`ScaledSchedule` around the
    schedule. A last ``order_params`` dict keeps the optimizer's parameters in
    ``net.trainable_params()`` order, so gradients taken for
    ``net.trainable_params()`` line up with them.

    Args:
        plan: The plan, made from this network's parameters.
        net: The network the optimizer trains.
        lr: The base lr: a number, a per-step list or 1-D array, a Tensor of
            rank 0 or 1, or a ``LearningRateSchedule``.

    Returns:
        The groups, the base lr for the optimizer's ``learning_rate`` argument,
        and the metadata.

    Raises:
        EmissionError: ``lr`` is of a kind or value MindSpore rejects, the plan
            does not match the network's trainable parameters, or two trainable
            parameters share a ``Parameter.name``.

    Example:
        >>> out = build_groups(plan, net, 1e-3)  # doctest: +SKIP
        >>> opt = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)  # doctest: +SKIP
    """
    lr = _materialize_lr(lr)
    values = _lr_values(lr, "lr")

    by_name = {name: param for name, param, _ in _named_parameters(net)}
    _check_plan_matches(plan, net, by_name)
    trainable = list(net.trainable_params())
    _check_unique_names(trainable)

    groups: list[dict[str, Any]] = [
        {
            "params": [by_name[name] for name in group.params],
            "lr": _scaled_lr(lr, values, group.lr_factor),
            "weight_decay": float(group.weight_decay),
        }
        for group in plan.groups
    ]
    groups.append({"order_params": trainable})

    learning_rate = _normalized_lr(lr, values)
    check_groups(groups, learning_rate, [group.name for group in plan.groups])
    return OptimizerGroups(groups, learning_rate, plan.groups, plan)


def plan_for_cell(
    rules: RuleSet | str | Path,
    net: nn.Cell,
    *,
    layer_decay: float | None = None,
    weight_decay: float | None = None,
    check_expect: bool = True,
) -> Plan:
    """Load ``rules`` if given a path or pack name, and plan the groups of ``net``.

    Args:
        rules: A rule set, or a rule file path or bundled pack name.
        net: The network.
        layer_decay: Overrides the file's ``layer_decay``.
        weight_decay: Overrides the file's ``weight_decay``.
        check_expect: Check the file's ``expect`` block; turn it off for a
            network the block was not written for, such as a smaller variant.

    Returns:
        The plan.

    Example:
        >>> net = convnext_small_cpu()  # doctest: +SKIP
        >>> len(plan_for_cell("convnext", net, check_expect=False).groups)  # doctest: +SKIP
        12
    """
    rule_set = rules if isinstance(rules, RuleSet) else load_rules(rules)
    return make_plan(
        rule_set,
        records_from_cell(net),
        layer_decay=layer_decay,
        weight_decay=weight_decay,
        check_expect=check_expect,
    )


def param_groups(
    rules: RuleSet | str | Path,
    net: nn.Cell,
    lr: LearningRate,
    *,
    layer_decay: float | None = None,
    weight_decay: float | None = None,
    check_expect: bool = True,
) -> OptimizerGroups:
    """Plan ``net`` with ``rules`` and build the optimizer groups in one call.

    Args:
        rules: A rule set, or a rule file path or bundled pack name.
        net: The network the optimizer trains.
        lr: The base lr; see :func:`build_groups` for the accepted kinds.
        layer_decay: Overrides the file's ``layer_decay``.
        weight_decay: Overrides the file's ``weight_decay``.
        check_expect: Check the file's ``expect`` block.

    Returns:
        The groups, the base lr and the metadata.

    Example:
        >>> out = param_groups("rules/convnext.yaml", net, 1e-3)  # doctest: +SKIP
        >>> opt = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)  # doctest: +SKIP
    """
    plan = plan_for_cell(
        rules, net, layer_decay=layer_decay, weight_decay=weight_decay, check_expect=check_expect
    )
    return build_groups(plan, net, lr)
