"""The engine: a rule set and parameter records in, an immutable plan out.

The engine imports no framework. It never changes the network, and what it
leaves out (frozen parameters, shared aliases) comes back in the plan as data.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable

from ._quoting import quoted
from .errors import (
    ArgumentError,
    ExpectationError,
    NoTrainableParametersError,
    ParameterRecordError,
    UnmatchedParametersError,
)
from .findings import check_plan
from .matching import RuleSet
from .plan import Assignment, Group, Plan, Skipped
from .records import ParamRecord
from .scales import lr_scales

__all__ = ["make_plan"]


def _format_mult(value: float) -> str:
    # The short form where it reads back exactly, so that two multipliers that
    # differ only past six digits still give two group names.
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


# Cached because a plan builds the same few names once for every parameter.
@functools.lru_cache(maxsize=4096)
def _group_name(layer_id: int, decay: bool, lr_mult: float, wd_mult: float) -> str:
    name = f"layer_{layer_id}_{'decay' if decay else 'no_decay'}"
    if lr_mult != 1.0:
        name += f"_lrx{_format_mult(lr_mult)}"
    if decay and wd_mult != 1.0:
        name += f"_wdx{_format_mult(wd_mult)}"
    return name


def _split_records(
    records: Iterable[ParamRecord],
) -> tuple[list[ParamRecord], list[ParamRecord], list[Skipped]]:
    trainable: list[ParamRecord] = []
    frozen: list[ParamRecord] = []
    shared: list[Skipped] = []
    first_name: dict[Hashable, str] = {}
    seen_names: set[str] = set()
    for record in records:
        if record.name in seen_names:
            raise ParameterRecordError(
                f"parameter name {quoted(record.name)} appears twice in the records.\n"
                "  Hint: names must be unique; give a shared parameter one record per name, "
                "each with the same identity."
            )
        if record.shape and min(record.shape) < 0:
            raise ParameterRecordError(
                f"parameter {quoted(record.name)} has shape {record.shape}, with a negative size.\n"
                "  Hint: sizes are the parameter's dimensions, each 0 or more."
            )
        seen_names.add(record.name)
        if record.identity is not None:
            grouped_name = first_name.setdefault(record.identity, record.name)
            if grouped_name != record.name:
                shared.append(Skipped(record.name, "shared", shared_with=grouped_name))
                continue
        (trainable if record.trainable else frozen).append(record)
    return trainable, frozen, shared


def _frozen_skips(rules: RuleSet, frozen: list[ParamRecord], counts: list[int]) -> list[Skipped]:
    skipped = []
    for record in frozen:
        found = rules.first_match(record.name)
        layer_id: int | None = None
        if found is not None:
            rule, match = found
            counts[rule.index] += 1
            layer_id = rule.layer_id(match, rules.num_layers)
        skipped.append(Skipped(record.name, "frozen", layer_id))
    return skipped


def _check_expect(rules: RuleSet, plan: Plan) -> None:
    expect = rules.spec.expect
    if expect is None:
        return
    actual = {
        "parameters": len(plan.assignments),
        "layer_ids": len(plan.layer_ids),
        "groups": len(plan.groups),
        "no_weight_decay": sum(1 for item in plan.assignments if not item.decay),
    }
    failures = []
    for key, value in actual.items():
        expected = getattr(expect, key)
        if expected is not None and expected != value:
            failures.append(
                f"expect.{key} is {expected} ({rules.locate(f'expect.{key}')}), "
                f"but the plan has {value}"
            )
    if failures:
        raise ExpectationError(failures, rules.source)


def make_plan(
    rules: RuleSet,
    records: Iterable[ParamRecord],
    *,
    layer_decay: float | None = None,
    weight_decay: float | None = None,
    check_expect: bool = True,
) -> Plan:
    """Assign every trainable parameter a layer id, an lr_scale and a weight decay.

    First match wins. A frozen parameter is left out and reported; it never
    changes another parameter's layer id, because ids come from the rules alone.
    Of several records with one identity (a tied parameter), the first is grouped
    and the others are reported as shared aliases.

    Args:
        rules: The compiled rule file, from :func:`grouprules.load_rules`.
        records: The network's parameters, in network order.
        layer_decay: Overrides the file's ``layer_decay``.
        weight_decay: Overrides the file's default ``weight_decay``.
        check_expect: Check the file's ``expect`` block against the plan.

    Returns:
        The plan.

    Raises:
        UnmatchedParametersError: A trainable parameter matches no rule.
        NoTrainableParametersError: No parameter is trainable.
        RuleEvaluationError: A layer expression fails for some parameter.
        ExpectationError: The plan differs from the ``expect`` block.
        ArgumentError: ``layer_decay`` or ``weight_decay`` is out of range.
        ParameterRecordError: Two records share a name, or a shape has a
            negative size.

    Example:
        >>> from grouprules import ParamRecord, loads_rules, make_plan
        >>> rules = loads_rules('''
        ... schema_version: 1
        ... name: tiny
        ... num_layers: 1
        ... layer_decay: 0.5
        ... weight_decay: 0.05
        ... no_weight_decay: {max_rank: 1}
        ... rules:
        ...   - {pattern: 'embed\\.', layer: 0}
        ...   - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: i + 1}
        ...   - {pattern: 'head\\.', layer: head}
        ... ''')
        >>> plan = make_plan(rules, [ParamRecord("embed.weight", (10, 4)),
        ...                          ParamRecord("blocks.0.weight", (4, 4)),
        ...                          ParamRecord("head.bias", (2,))])
        >>> for a in plan.assignments:
        ...     print(a.name, a.layer_id, a.lr_scale, a.weight_decay)
        embed.weight 0 0.25 0.05
        blocks.0.weight 1 0.5 0.05
        head.bias 2 1.0 0.0
    """
    spec = rules.spec
    decay_factor = spec.layer_decay if layer_decay is None else float(layer_decay)
    base_weight_decay = spec.weight_decay if weight_decay is None else float(weight_decay)
    if not 0.0 < decay_factor <= 1.0:
        raise ArgumentError(f"layer_decay must be in (0, 1], got {decay_factor}")
    if not (math.isfinite(base_weight_decay) and base_weight_decay >= 0.0):
        raise ArgumentError(f"weight_decay must be finite and >= 0, got {base_weight_decay}")

    trainable, frozen, shared = _split_records(records)
    if not trainable:
        raise NoTrainableParametersError(
            f"{rules.source}: the network has no trainable parameter "
            f"({len(frozen)} frozen, {len(shared)} shared aliases); there is nothing to group.\n"
            "  Hint: unfreeze the layers to fine-tune (requires_grad=True) before building "
            "the optimizer."
        )

    scales = lr_scales(rules.num_layers, decay_factor)
    counts = [0] * len(rules.rules)
    assignments: list[Assignment] = []
    unmatched: list[str] = []
    for record in trainable:
        found = rules.first_match(record.name)
        if found is None:
            unmatched.append(record.name)
            continue
        rule, match = found
        counts[rule.index] += 1
        layer_id = rule.layer_id(match, rules.num_layers)
        decision = rules.decide_decay(record, rule)
        assignments.append(
            Assignment(
                name=record.name,
                shape=record.shape,
                layer_id=layer_id,
                lr_scale=scales[layer_id],
                lr_mult=rule.lr_mult,
                weight_decay=base_weight_decay * rule.wd_mult if decision.decay else 0.0,
                decay=decision.decay,
                group=_group_name(layer_id, decision.decay, rule.lr_mult, rule.wd_mult),
                layer_rule=rule.label,
                decay_rule=decision.reason,
            )
        )
    if unmatched:
        raise UnmatchedParametersError(unmatched, rules.source)

    frozen_counts = [0] * len(rules.rules)
    skipped = _frozen_skips(rules, frozen, frozen_counts) + shared
    order = {record.name: index for index, record in enumerate(trainable + frozen)}
    order.update({item.name: len(order) + index for index, item in enumerate(shared)})
    skipped.sort(key=lambda item: order[item.name])

    plan = Plan(
        source=rules.source,
        num_layers=rules.num_layers,
        layer_decay=decay_factor,
        weight_decay=base_weight_decay,
        assignments=tuple(assignments),
        groups=_build_groups(assignments, trainable),
        skipped=tuple(skipped),
        rule_matches=tuple(counts),
        findings=tuple(check_plan(rules, trainable, assignments, skipped, counts, frozen_counts)),
    )
    if check_expect:
        _check_expect(rules, plan)
    return plan


def _build_groups(assignments: list[Assignment], records: list[ParamRecord]) -> tuple[Group, ...]:
    numel = {record.name: record.numel for record in records}
    # A group name encodes layer id, decay, lr_mult and wd_mult exactly (see
    # _format_mult), so equal names mean equal settings.
    members: dict[str, list[Assignment]] = {}
    for assignment in assignments:
        members.setdefault(assignment.group, []).append(assignment)

    groups = []
    for name, items in members.items():
        first = items[0]
        groups.append(
            Group(
                name=name,
                layer_id=first.layer_id,
                lr_scale=first.lr_scale,
                lr_mult=first.lr_mult,
                weight_decay=first.weight_decay,
                decay=first.decay,
                params=tuple(item.name for item in items),
                numel=sum(numel[item.name] for item in items),
            )
        )
    # Head first: the order official recipes print, and a stable one for lock files.
    groups.sort(key=lambda group: (-group.layer_id, not group.decay, group.lr_mult, group.name))
    return tuple(groups)
