"""The rule file schema, as pydantic v2 models.

A rule file is YAML or TOML. Unknown keys are rejected everywhere, patterns must
compile and layer expressions must parse when the file is loaded. Checks that
span several keys (a layer expression that reads a capture its pattern lacks, a
fixed layer id outside ``0..num_layers + 1``) are made by :mod:`grouprules.loading`
so that they carry the same location information as schema errors.
"""

from __future__ import annotations

from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from .expressions import ExpressionSyntaxError, parse_layer_expression

__all__ = [
    "HEAD",
    "SCHEMA_VERSION",
    "Expect",
    "NoWeightDecay",
    "Rule",
    "RuleFile",
]

#: The schema version this release reads.
SCHEMA_VERSION = 1
#: The ``layer`` value that names the head id, ``num_layers + 1``.
HEAD = "head"


def _check_pattern(value: str) -> str:
    try:
        regex.compile(value)
    except regex.error as exc:
        raise PydanticCustomError(
            "invalid_pattern",
            "pattern does not compile: {reason}",
            {
                "reason": str(exc),
                "expected": "a regular expression in the syntax of the `regex` package",
                "hint": "escape literal dots as `\\.` and check brackets and parentheses",
            },
        ) from None
    return value


def _whole_number_as_float(value: Any) -> Any:
    # Strict mode rejects 1 for a float field, but a whole number is still a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Rule(_Strict):
    """One ordered rule: parameters whose name matches ``pattern`` get ``layer``.

    Attributes:
        pattern: Regular expression matched from the start of the parameter name
            (``regex.match``); end it with ``$`` to anchor the end.
        layer: An integer id, ``"head"`` for ``num_layers + 1``, or an integer
            expression over the pattern's named captures, such as ``"3 + block // 3"``.
        name: Label shown in reports; defaults to ``rules[<index>]``.
        description: Free text for readers of the file.
        weight_decay: ``true`` applies weight decay to every matched parameter,
            ``false`` removes it; unset leaves the decision to ``no_weight_decay``.
        lr_mult: Factor on the lr of matched parameters, on top of the layer's
            lr_scale.
        wd_mult: Factor on the weight decay of matched parameters that are decayed.
    """

    pattern: str
    layer: int | str
    name: str | None = None
    description: str = ""
    weight_decay: bool | None = None
    lr_mult: float = Field(default=1.0, ge=0.0)
    wd_mult: float = Field(default=1.0, ge=0.0)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        return _check_pattern(value)

    @field_validator("lr_mult", "wd_mult", mode="before")
    @classmethod
    def _int_as_float(cls, value: Any) -> Any:
        return _whole_number_as_float(value)

    @field_validator("layer", mode="before")
    @classmethod
    def _layer_type(cls, value: Any) -> Any:
        # One clear error here replaces the two that the int | str union would report.
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise PydanticCustomError(
                "invalid_layer",
                "layer must be an integer, 'head' or an integer expression",
                {"expected": "an integer, 'head' or an expression such as '3 + block // 3'"},
            )
        return value

    @field_validator("layer")
    @classmethod
    def _layer_parses(cls, value: int | str) -> int | str:
        if isinstance(value, str) and value.strip() != HEAD:
            try:
                parse_layer_expression(value)
            except ExpressionSyntaxError as exc:
                raise PydanticCustomError(
                    "invalid_layer_expression",
                    "layer expression is invalid: {reason}",
                    {
                        "reason": str(exc),
                        "expected": "integers, named captures, + - * // %, min(), max() "
                        "and parentheses",
                        "hint": "write the capture as (?P<block>\\d+) in the pattern and "
                        "use its name, as in '3 + block // 3'",
                    },
                ) from None
        return value


class NoWeightDecay(_Strict):
    """Which parameters get ``weight_decay = 0``.

    A parameter is exempt from weight decay when any one of the three tests holds.
    A rule's own ``weight_decay`` flag overrides all three.

    Attributes:
        names: Patterns searched anywhere in the parameter name (``regex.search``).
        max_rank: Parameters with at most this many dimensions are exempt.
        cell_types: Class names of the cell that directly owns the parameter.
            A subclass counts, so ``LayerNorm`` also exempts a user's subclass.
    """

    names: list[str] = Field(default_factory=list)
    max_rank: int | None = Field(default=None, ge=0)
    cell_types: list[str] = Field(default_factory=list)

    @field_validator("names")
    @classmethod
    def _names_compile(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_pattern(value)
        return values


class Expect(_Strict):
    """Counts the plan must reproduce, checked on every evaluation.

    Attributes:
        parameters: Number of trainable parameters grouped.
        layer_ids: Number of distinct layer ids that hold a trainable parameter.
        groups: Number of non-empty groups.
        no_weight_decay: Number of trainable parameters without weight decay.
    """

    parameters: int | None = Field(default=None, ge=0)
    layer_ids: int | None = Field(default=None, ge=0)
    groups: int | None = Field(default=None, ge=0)
    no_weight_decay: int | None = Field(default=None, ge=0)


class RuleFile(_Strict):
    """A whole rule file.

    Attributes:
        schema_version: Version of this schema the file is written for.
        name: Short identifier of the rule file.
        description: What the file reproduces.
        architecture: The architecture the file targets, such as ``ConvNeXt``.
        naming: Whose parameter naming the patterns target.
        references: Sources of the recipe.
        num_layers: The decay depth L. Layer ids run ``0..L + 1`` and the head
            id ``L + 1`` gets lr_scale 1.0.
        layer_decay: Default layer_decay; layer ``i`` gets
            ``layer_decay ** (L + 1 - i)``.
        weight_decay: Default weight_decay of decayed parameters.
        rules: Ordered rules, first match wins.
        no_weight_decay: The no-decay policy.
        expect: Counts checked on every evaluation.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, title="grouprules rule file"
    )

    schema_version: Literal[1]
    name: str
    description: str = ""
    architecture: str = ""
    naming: str = ""
    references: list[str] = Field(default_factory=list)
    num_layers: int = Field(ge=0, le=100_000)
    layer_decay: float = Field(gt=0.0, le=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    rules: list[Rule] = Field(min_length=1)
    no_weight_decay: NoWeightDecay = Field(default_factory=NoWeightDecay)
    expect: Expect | None = None

    @field_validator("layer_decay", "weight_decay", mode="before")
    @classmethod
    def _int_as_float(cls, value: Any) -> Any:
        return _whole_number_as_float(value)
