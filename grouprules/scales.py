"""Layer-wise lr scales."""

from __future__ import annotations

__all__ = ["lr_scale", "lr_scales"]


def lr_scale(layer_id: int, num_layers: int, layer_decay: float) -> float:
    """Return ``layer_decay ** (num_layers + 1 - layer_id)``.

    Layer ``num_layers + 1`` (the head) gets 1.0 and each id below it one more
    factor of ``layer_decay``.

    Args:
        layer_id: The layer id, from 0 to ``num_layers + 1``.
        num_layers: The decay depth L.
        layer_decay: The per-layer factor, in (0, 1].

    Returns:
        The factor on the base lr.

    Example:
        >>> lr_scale(13, 12, 0.8)
        1.0
        >>> round(lr_scale(11, 12, 0.8), 2)
        0.64
    """
    return float(layer_decay ** (num_layers + 1 - layer_id))


def lr_scales(num_layers: int, layer_decay: float) -> tuple[float, ...]:
    """Return :func:`lr_scale` for every id from 0 to ``num_layers + 1``.

    Example:
        >>> lr_scales(1, 0.5)
        (0.25, 0.5, 1.0)
    """
    return tuple(lr_scale(layer_id, num_layers, layer_decay) for layer_id in range(num_layers + 2))
