"""Parameter records: the framework-free description of one parameter that the engine reads."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from math import prod

__all__ = ["ParamRecord"]


@dataclass(frozen=True)
class ParamRecord:
    """One parameter of a network, free of any framework object.

    Attributes:
        name: The parameter's full name, such as ``backbone.block1.0.gamma``.
        shape: The parameter's shape.
        owner_types: Class names of the cell that owns the parameter directly,
            most derived first and through its whole class hierarchy, such as
            ``("LlamaRMSNorm", "Cell")``. Empty when unknown (a dump or a checkpoint).
        trainable: ``False`` for a frozen parameter (``requires_grad=False``).
        identity: Records with equal, non-``None`` identity are one shared
            parameter reached under several names; the first one is grouped.

    Example:
        >>> ParamRecord("head.bias", (10,)).numel
        10
    """

    name: str
    shape: tuple[int, ...]
    owner_types: tuple[str, ...] = ()
    trainable: bool = True
    identity: Hashable | None = None

    @property
    def rank(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def numel(self) -> int:
        """Number of elements."""
        return prod(self.shape)
