"""Scheduled layer-wise lr decay at about the cost of one schedule.

:func:`grouprules.mindspore.build_groups` gives every group its own
:class:`~grouprules.mindspore.ScaledSchedule`, as MindSpore's group contract
requires. ``nn.Optimizer`` (MindSpore 2.10) then keeps one lr entry per
parameter and computes each one inside the optimizer graph. Per-parameter lrs
computed in the graph make the first step compile several times longer, and the
process keeps a few hundred MB more, than an optimizer with one schedule
(numbers in ``docs/benchmarks.md``).

:func:`scheduled_optimizer` keeps the optimizer's group lrs as plain float
Parameters (``learning_rate_group_<n>``), which compile as cheaply as constant
lrs. It overrides ``get_lr``, so that each step evaluates the base schedule
once, writes ``base * lr_factor`` into each group's lr Parameter and returns
those Parameters. The update runs inside the optimizer's own graph, in
GRAPH_MODE and PYNATIVE_MODE alike, so ``Model.train``, custom training loops
and dataset sink mode need no callback.

This module imports MindSpore, so neither the engine nor
``grouprules/__init__.py`` imports it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union, cast

try:
    import numpy as np
    from mindspore import Parameter, Tensor, nn, ops
    from mindspore.nn.learning_rate_schedule import LearningRateSchedule
except ImportError as exc:  # pragma: no cover - exercised only without MindSpore
    raise ImportError(
        "grouprules.schedules needs MindSpore: pip install 'grouprules[mindspore]' "
        "(mindspore==2.10.* with numpy<2)"
    ) from exc

from .errors import EmissionError
from .matching import RuleSet
from .mindspore import build_groups, plan_for_cell
from .plan import Plan

__all__ = ["Schedule", "StepValues", "scheduled_optimizer"]

Schedule = Union[LearningRateSchedule, Sequence[float], "np.ndarray[Any, Any]", Tensor]

#: Optimizer arguments that :func:`scheduled_optimizer` sets itself: (reason, hint).
_RESERVED_ARGUMENTS = {
    "params": ("the groups come from the plan", "remove params="),
    "learning_rate": (
        "every group's lr comes from the schedule",
        "pass the base lr as the schedule argument",
    ),
    "weight_decay": (
        "every group sets its own weight_decay",
        "set weight_decay in the rule file, or pass weight_decay= to plan_for_cell",
    ),
}

_SCHEDULE_KINDS = (
    "a LearningRateSchedule cell, or one lr per optimizer step as a list, tuple, "
    "1-D numpy array or 1-D Tensor"
)


class StepValues(LearningRateSchedule):  # type: ignore[misc]
    """A schedule read from one lr value per step.

    As with a per-step lr given to ``nn.Optimizer``, a step past the end raises
    the ``RuntimeError`` of MindSpore's ``Gather`` at that step.

    Args:
        values: The lr of each step, from step 0.

    Example:
        >>> schedule = StepValues([0.1, 0.2])
        >>> round(float(schedule(Tensor(np.array([1], np.int32)))[0]), 6)
        0.2
    """

    def __init__(self, values: Sequence[float] | np.ndarray[Any, Any]) -> None:
        super().__init__()
        self.values = Tensor(np.asarray(values, dtype=np.float32))
        self.gather = ops.Gather()

    def construct(self, global_step: Tensor) -> Tensor:
        """Return the lr stored for ``global_step``."""
        return self.gather(self.values, global_step, 0)


class _ScheduledGroupLR:
    """Mixin for ``nn.Optimizer`` subclasses: group lrs follow one base schedule.

    It must come before the optimizer class in the bases, so that its
    ``get_lr`` replaces the optimizer's.
    """

    # Set by nn.Optimizer: the parameters and their per-parameter lr Parameters.
    _parameters: Any
    learning_rate: Any

    def __init__(
        self,
        groups: list[dict[str, Any]],
        *,
        lr_schedule: LearningRateSchedule,
        group_names: tuple[str, ...],
        group_lr_factors: tuple[float, ...],
        plan: Plan,
        **optimizer_arguments: Any,
    ) -> None:
        super().__init__(groups, learning_rate=0.0, **optimizer_arguments)  # type: ignore[call-arg]
        self.lr_schedule = lr_schedule
        self.lr_schedule_step = Parameter(
            Tensor(np.zeros([1], np.int32)), name="lr_schedule_step", requires_grad=False
        )
        self.lr_schedule_increment = Tensor(np.ones([1], np.int32))
        self.group_names = group_names
        self.group_lr_factors = group_lr_factors
        self.plan = plan

        # nn.Optimizer stores one lr entry per parameter, in parameter order. All the
        # entries of a group are one Parameter, so one position per group suffices.
        positions = {id(param): index for index, param in enumerate(self._parameters)}
        self.group_lr_positions = tuple(
            positions[id(entry["params"][0])] for entry in groups if "params" in entry
        )

    def get_lr(self) -> Any:
        """Set every group lr to the base schedule's value times the group's factor.

        Each call is one schedule step: it evaluates the schedule at
        ``lr_schedule_step``, then advances that counter by one, as
        mindcv's optimizers advance ``global_step`` in their ``get_lr``.

        Returns:
            The per-parameter lr Parameters, holding this step's values.
        """
        base = self.lr_schedule(self.lr_schedule_step).reshape(())
        ops.assign_add(self.lr_schedule_step, self.lr_schedule_increment)
        # MindSpore's graph syntax has no zip(strict=...), and the tuples have one length.
        for position, factor in zip(self.group_lr_positions, self.group_lr_factors):  # noqa: B905
            ops.assign(self.learning_rate[position], base * factor)
        return self.learning_rate

    def group_lrs(self) -> dict[str, float]:
        """Return each group's lr as of the latest step, by group name.

        Before the first step every value is 0.0.

        Example:
            >>> opt.group_lrs()["layer_13_decay"]  # doctest: +SKIP
            0.001
        """
        return {
            name: float(self.learning_rate[position].asnumpy())
            for name, position in zip(self.group_names, self.group_lr_positions, strict=True)
        }


_SCHEDULED_CLASSES: dict[type, type] = {}


def _scheduled_class(optimizer_class: type) -> type:
    scheduled = _SCHEDULED_CLASSES.get(optimizer_class)
    if scheduled is None:
        scheduled = type(
            f"Scheduled{optimizer_class.__name__}",
            (_ScheduledGroupLR, optimizer_class),
            {"__module__": __name__, "__doc__": _ScheduledGroupLR.__doc__},
        )
        _SCHEDULED_CLASSES[optimizer_class] = scheduled
    return scheduled


def _check_optimizer_class(optimizer_class: Any) -> None:
    if isinstance(optimizer_class, nn.Optimizer):
        raise EmissionError(
            f"optimizer_class is an instance of {type(optimizer_class).__name__}, not a class.\n"
            f"  Hint: pass the class, such as nn.{type(optimizer_class).__name__}; "
            "scheduled_optimizer builds the optimizer itself."
        )
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, nn.Optimizer)):
        raise EmissionError(
            f"optimizer_class is {optimizer_class!r}, not a subclass of mindspore.nn.Optimizer.\n"
            "  Hint: pass an optimizer class such as nn.AdamWeightDecay or nn.SGD; the "
            "optimizers of mindspore.experimental.optim keep their lrs in param_groups and "
            "take their own lr_scheduler instead."
        )
    try:
        source = inspect.getsource(cast(Any, optimizer_class).construct)
    except (OSError, TypeError):
        # Without source code there is nothing to check; the class is trusted.
        return
    if "get_lr(" not in source:
        raise EmissionError(
            f"{optimizer_class.__name__}.construct never calls self.get_lr(), so the "
            "scheduled group lrs would not reach its update.\n"
            "  Hint: use build_groups with a LearningRateSchedule for this optimizer."
        )


def _schedule_cell(schedule: Any) -> LearningRateSchedule:
    if isinstance(schedule, LearningRateSchedule):
        return schedule
    constant = isinstance(schedule, (int, float, np.number)) or (
        isinstance(schedule, (Tensor, np.ndarray)) and schedule.ndim == 0
    )
    if constant and not isinstance(schedule, bool):
        raise EmissionError(
            f"schedule is the constant {schedule!r}, but a constant lr needs no schedule.\n"
            "  Hint: build float-lr groups with build_groups(plan, net, lr)."
        )
    if isinstance(schedule, Tensor):
        values = schedule.asnumpy().astype(np.float64)
    elif isinstance(schedule, (list, tuple, np.ndarray)):
        try:
            values = np.asarray(schedule, dtype=np.float64)
        except (TypeError, ValueError):
            raise EmissionError(
                f"schedule is a {type(schedule).__name__} that does not hold numbers.\n"
                f"  expected: {_SCHEDULE_KINDS}"
            ) from None
    else:
        raise EmissionError(
            f"schedule is {schedule!r}, which is not a learning-rate schedule.\n"
            f"  expected: {_SCHEDULE_KINDS}"
        )

    if values.ndim != 1 or values.size == 0:
        raise EmissionError(
            f"schedule has shape {values.shape}, but per-step lrs must be a non-empty 1-D "
            "sequence, one value per optimizer step."
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise EmissionError(
            f"schedule[{bad[0]}] is {values[bad[0]]}, but MindSpore trains only with finite, "
            "non-negative learning rates."
        )
    return StepValues(values)


def scheduled_optimizer(
    optimizer_class: type[nn.Optimizer],
    plan: Plan | RuleSet | str | Path,
    net: nn.Cell,
    schedule: Schedule,
    **optimizer_arguments: Any,
) -> nn.Optimizer:
    """Build an optimizer whose group lrs follow one base schedule, scaled per group.

    At every step, group ``g`` trains with ``schedule(step) * g.lr_factor``, as
    with ``build_groups(plan, net, schedule)``. Here, though, the schedule is
    evaluated once per step and the groups keep float lr Parameters. The
    optimizer then steps as fast as an ungrouped optimizer with one schedule, and
    its first step takes up to about 1.3 times as long (``docs/benchmarks.md``).

    The returned optimizer is an instance of a subclass of ``optimizer_class``
    named ``Scheduled<class name>``. Its extra attributes are ``plan``,
    ``group_names``, ``group_lr_factors``, ``lr_schedule`` and the Parameter
    ``lr_schedule_step``. That Parameter is the step at which the schedule is
    evaluated next. It starts at 0, goes up by one at each call of ``get_lr()``
    (once per optimizer step), and is saved in checkpoints with the rest of the
    optimizer state.
    ``group_lrs()`` returns each group's lr at the latest step.

    Args:
        optimizer_class: An ``nn.Optimizer`` subclass whose ``construct`` reads its
            lrs through ``self.get_lr()``, as every optimizer in
            ``mindspore.nn`` and ``mindcv.optim`` does.
        plan: The plan for ``net``, or a rule set, rule file path or bundled pack
            name to plan ``net`` with (using the file's ``layer_decay`` and
            ``weight_decay``; call :func:`grouprules.mindspore.plan_for_cell`
            yourself to override them).
        net: The network the optimizer trains.
        schedule: The base lr: a ``LearningRateSchedule`` cell, or one lr per
            optimizer step (a list, tuple, 1-D array or 1-D Tensor). It is the
            head group's lr when the head has no ``lr_mult``.
        **optimizer_arguments: Further arguments of ``optimizer_class``, such as
            ``eps`` or ``momentum``.

    Returns:
        The optimizer.

    Raises:
        EmissionError: ``optimizer_class`` is not an ``nn.Optimizer`` subclass
            that calls ``get_lr()``, ``schedule`` is not a schedule,
            ``optimizer_arguments`` contains ``params``, ``learning_rate`` or
            ``weight_decay``, or the plan does not match ``net``.

    Example:
        >>> from mindspore import nn
        >>> from examples.convnext import convnext_small_cpu
        >>> from grouprules.mindspore import plan_for_cell
        >>> net = convnext_small_cpu()
        >>> plan = plan_for_cell("rules/convnext.yaml", net, check_expect=False)
        >>> schedule = nn.CosineDecayLR(1e-6, 1e-3, decay_steps=100)
        >>> opt = scheduled_optimizer(nn.AdamWeightDecay, plan, net, schedule, eps=1e-8)
        >>> type(opt).__name__
        'ScheduledAdamWeightDecay'
        >>> len(opt.group_names) == len(plan.groups)
        True
    """
    _check_optimizer_class(optimizer_class)
    for key, (reason, hint) in _RESERVED_ARGUMENTS.items():
        if key in optimizer_arguments:
            raise EmissionError(
                f"scheduled_optimizer sets {key}= itself, because {reason}.\n  Hint: {hint}."
            )
    lr_schedule = _schedule_cell(schedule)

    if not isinstance(plan, Plan):
        plan = plan_for_cell(plan, net)
    # The group lrs start at 0.0, and get_lr writes the real values before each update.
    out = build_groups(plan, net, 0.0)

    scheduled = _scheduled_class(optimizer_class)
    optimizer: nn.Optimizer = scheduled(
        out.groups,
        lr_schedule=lr_schedule,
        group_names=tuple(group.name for group in out.metadata),
        group_lr_factors=tuple(float(group.lr_factor) for group in out.metadata),
        plan=plan,
        **optimizer_arguments,
    )
    return optimizer
