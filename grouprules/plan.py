"""The engine's output: an immutable plan of assignments and groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ArgumentError
from .findings import Finding

__all__ = ["Assignment", "Group", "Plan", "Skipped"]


def _real_number(base_lr: Any) -> float | None:
    # float() reads numpy scalars and one-element tensors too. It also converts a
    # string or a boolean, which is not a learning rate, so those are rejected first.
    if base_lr is None:
        return None
    is_bool = isinstance(base_lr, bool) or type(base_lr).__name__ == "bool_"
    if not is_bool and not isinstance(base_lr, (str, bytes)):
        try:
            return float(base_lr)
        except (TypeError, ValueError):
            pass
    raise ArgumentError(
        f"Plan.summary() takes the base lr as a number, not a {type(base_lr).__name__}.\n"
        "  Hint: for a learning-rate schedule, pass its value at one step as a float, or "
        "call summary() without it to report lr factors; after build_groups(), "
        "OptimizerGroups.lr_at(name, step) from grouprules.mindspore returns a group's lr "
        "at a step."
    )


@dataclass(frozen=True)
class Assignment:
    """The placement of one trainable parameter: its layer, lr and weight decay.

    Attributes:
        name: The parameter name.
        shape: The parameter shape.
        layer_id: The layer id, from 0 to ``num_layers + 1``.
        lr_scale: ``layer_decay ** (num_layers + 1 - layer_id)``.
        lr_mult: The matched rule's extra lr factor.
        weight_decay: The weight decay the parameter gets, 0.0 when not decayed.
        decay: ``True`` when the parameter is decayed.
        group: Name of the group the parameter lands in.
        layer_rule: Label of the rule that set the layer id.
        decay_rule: Key trail of the setting that decided the decay, or ``default``.
    """

    name: str
    shape: tuple[int, ...]
    layer_id: int
    lr_scale: float
    lr_mult: float
    weight_decay: float
    decay: bool
    group: str
    layer_rule: str
    decay_rule: str

    @property
    def lr_factor(self) -> float:
        """Factor on the base lr: ``lr_scale * lr_mult``."""
        return self.lr_scale * self.lr_mult


@dataclass(frozen=True)
class Group:
    """One optimizer group.

    Attributes:
        name: ``layer_<id>_decay`` or ``layer_<id>_no_decay``, with ``_lrx<mult>``
            appended when the rule set an ``lr_mult`` other than 1.
        layer_id: The shared layer id.
        lr_scale: The shared lr_scale.
        lr_mult: The shared lr multiplier.
        weight_decay: The shared weight decay, 0.0 for a no-decay group.
        decay: ``True`` for a decay group.
        params: Names of the group's parameters, in network order.
        numel: Total number of elements.
    """

    name: str
    layer_id: int
    lr_scale: float
    lr_mult: float
    weight_decay: float
    decay: bool
    params: tuple[str, ...]
    numel: int

    @property
    def lr_factor(self) -> float:
        """Factor on the base lr: ``lr_scale * lr_mult``."""
        return self.lr_scale * self.lr_mult


@dataclass(frozen=True)
class Skipped:
    """A parameter left out of every group, and why.

    Attributes:
        name: The parameter name.
        reason: ``frozen`` (not trainable) or ``shared`` (an alias of a grouped
            parameter).
        layer_id: The layer id the rules would give it, when a rule matches.
        shared_with: For ``shared``, the name under which the parameter is grouped.
    """

    name: str
    reason: str
    layer_id: int | None = None
    shared_with: str | None = None


@dataclass(frozen=True)
class Plan:
    """The grouping a rule file produces for one network.

    Attributes:
        source: The rule file the plan came from.
        num_layers: The decay depth L.
        layer_decay: The layer_decay used.
        weight_decay: The default weight decay used.
        assignments: One per trainable parameter, in network order.
        groups: The non-empty groups, head first, then by descending layer id,
            decay before no-decay.
        skipped: Frozen parameters and shared aliases, in network order.
        rule_matches: Number of trainable parameters each rule placed, by rule index.
        findings: Warnings about the grouping, such as an empty layer id.
    """

    source: str
    num_layers: int
    layer_decay: float
    weight_decay: float
    assignments: tuple[Assignment, ...]
    groups: tuple[Group, ...]
    skipped: tuple[Skipped, ...]
    rule_matches: tuple[int, ...]
    findings: tuple[Finding, ...]

    @property
    def head_id(self) -> int:
        """The head's layer id, ``num_layers + 1``."""
        return self.num_layers + 1

    @property
    def layer_ids(self) -> tuple[int, ...]:
        """Layer ids that hold at least one trainable parameter, ascending."""
        return tuple(sorted({assignment.layer_id for assignment in self.assignments}))

    @property
    def frozen(self) -> tuple[str, ...]:
        """Names of the frozen parameters."""
        return tuple(item.name for item in self.skipped if item.reason == "frozen")

    def assignment(self, name: str) -> Assignment:
        """Return the assignment of parameter ``name``.

        Raises:
            KeyError: ``name`` is not a grouped parameter.
        """
        for assignment in self.assignments:
            if assignment.name == name:
                return assignment
        raise KeyError(f"parameter {name!r} is not in the plan")

    def lr_range(self) -> tuple[Group, Group]:
        """Return the groups with the smallest and the largest lr factor."""
        smallest = min(self.groups, key=lambda group: (group.lr_factor, group.layer_id))
        largest = max(self.groups, key=lambda group: (group.lr_factor, -group.layer_id))
        return smallest, largest

    def summary(self, base_lr: float | None = None) -> str:
        """Describe the plan in a few lines, for logs.

        States the base lr next to the smallest and largest group lr with their
        layer ids, so that a decayed lr in a training log is not taken for a wrong
        base lr.

        Args:
            base_lr: The base lr, as a real number (a numpy scalar works too);
                ``None`` reports factors only. For a schedule, pass its value at
                one step.

        Returns:
            The description.

        Raises:
            ArgumentError: ``base_lr`` is not a real number, such as a
                ``LearningRateSchedule`` or a boolean.

        Example:
            >>> print(plan.summary(1e-3))  # doctest: +SKIP
            grouprules: 304 parameters in 28 groups, layer ids 0..13 (rules/convnext.yaml)
            base lr 0.001; smallest group lr 5.498e-05 (layer 0); largest 0.001 (layer 13)
        """
        base_lr = _real_number(base_lr)
        smallest, largest = self.lr_range()
        ids = self.layer_ids
        head = (
            f"grouprules: {len(self.assignments)} parameters in {len(self.groups)} groups, "
            f"layer ids {ids[0]}..{ids[-1]} ({self.source})"
        )
        if base_lr is None:
            lrs = (
                f"lr factor from {smallest.lr_factor:.4g} (layer {smallest.layer_id}) "
                f"to {largest.lr_factor:.4g} (layer {largest.layer_id}) of the base lr"
            )
        else:
            lrs = (
                f"base lr {base_lr:.4g}; smallest group lr {base_lr * smallest.lr_factor:.4g} "
                f"(layer {smallest.layer_id}); largest {base_lr * largest.lr_factor:.4g} "
                f"(layer {largest.layer_id})"
            )
        lines = [head, lrs]
        frozen = len(self.frozen)
        shared = len(self.skipped) - frozen
        if frozen or shared:
            lines.append(f"skipped: {frozen} frozen, {shared} shared alias(es)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as plain data, ready for ``json.dumps``."""
        return {
            "source": self.source,
            "num_layers": self.num_layers,
            "layer_decay": self.layer_decay,
            "weight_decay": self.weight_decay,
            "groups": [
                {
                    "name": group.name,
                    "layer_id": group.layer_id,
                    "lr_scale": group.lr_scale,
                    "lr_mult": group.lr_mult,
                    "weight_decay": group.weight_decay,
                    "decay": group.decay,
                    "params": len(group.params),
                    "numel": group.numel,
                }
                for group in self.groups
            ],
            "parameters": [
                {
                    "name": item.name,
                    "shape": list(item.shape),
                    "layer_id": item.layer_id,
                    "lr_scale": item.lr_scale,
                    "lr_mult": item.lr_mult,
                    "weight_decay": item.weight_decay,
                    "group": item.group,
                    "rule": item.layer_rule,
                    "decay_rule": item.decay_rule,
                }
                for item in self.assignments
            ],
            "skipped": [
                {
                    "name": item.name,
                    "reason": item.reason,
                    "layer_id": item.layer_id,
                    "shared_with": item.shared_with,
                }
                for item in self.skipped
            ],
            "rule_matches": list(self.rule_matches),
            "findings": [finding.to_dict() for finding in self.findings],
        }
