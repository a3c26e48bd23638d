"""``explain --plot``: lr_scale and tensor count by layer id, as a PNG.

matplotlib is an optional dependency (the ``plot`` extra). The figure is drawn
with the Agg canvas directly, so no pyplot state or display backend is touched.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GroupRulesError
from ..plan import Plan
from ..scales import lr_scales

__all__ = ["PlotError", "plot_plan"]

_DECAY_COLOR = "#3b6ea8"
_NO_DECAY_COLOR = "#e39b3b"
_EMPTY_COLOR = "#c8c8c8"


class PlotError(GroupRulesError):
    """The plot could not be drawn or written."""


def plot_plan(plan: Plan, path: str | Path) -> None:
    """Draw lr_scale by layer id above the number of tensors per layer id.

    Every id from 0 to ``num_layers + 1`` gets a bar. An id that contains no
    trainable tensor is drawn grey and labelled ``empty``, so a layer gap shows.

    Args:
        plan: The plan to draw.
        path: The PNG file to write.

    Raises:
        PlotError: matplotlib is not installed, or the file cannot be written.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError(
            "--plot needs matplotlib, which is not installed\n"
            "  Hint: pip install 'grouprules[plot]'"
        ) from None

    ids = list(range(plan.num_layers + 2))
    scales = lr_scales(plan.num_layers, plan.layer_decay)
    decayed = [0] * len(ids)
    exempt = [0] * len(ids)
    for item in plan.assignments:
        if item.decay:
            decayed[item.layer_id] += 1
        else:
            exempt[item.layer_id] += 1
    totals = [a + b for a, b in zip(decayed, exempt, strict=True)]

    figure = Figure(figsize=(max(6.0, 0.45 * len(ids) + 2.0), 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    colors = [_DECAY_COLOR if total else _EMPTY_COLOR for total in totals]
    bars = top.bar(ids, scales, color=colors)
    top.bar_label(
        bars,
        labels=[
            f"{scale:.3g}" if total else "empty"
            for scale, total in zip(scales, totals, strict=True)
        ],
        fontsize=7,
        padding=2,
    )
    top.set_ylabel("lr_scale (factor on the base lr)")
    top.set_ylim(0, max(scales) * 1.15)
    top.set_title(
        f"{Path(plan.source).name}: num_layers {plan.num_layers}, layer_decay "
        f"{plan.layer_decay:g}, head id {plan.head_id}"
    )

    bottom.bar(ids, decayed, color=_DECAY_COLOR, label="weight decay")
    stacked = bottom.bar(
        ids, exempt, bottom=decayed, color=_NO_DECAY_COLOR, label="no weight decay"
    )
    bottom.bar_label(stacked, labels=[str(total) if total else "" for total in totals], fontsize=7)
    bottom.set_ylabel("tensors")
    bottom.set_xlabel("layer id")
    bottom.set_ylim(0, max(totals) * 1.45 + 1)
    bottom.legend(loc="upper left", ncols=2, fontsize=8, frameon=False)
    bottom.set_xticks(ids)

    try:
        figure.savefig(path, dpi=120, format="png")
    except OSError as exc:
        raise PlotError(f"{path}: cannot write the plot: {exc.strerror or exc}") from None
