"""The rule file schema, as pydantic v2 models.

A rule file is YAML or TOML. Unknown keys are rejected everywhere, patterns must
compile and layer expressions must parse when the file is loaded. Checks that
span several keys (a layer expression that reads a capture its pattern lacks, a
fixed layer id outside ``0..num_layers + 1``) are made by :mod:`grouprules.loading`
so that they carry the same location information as schema errors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import regex
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from .expressions import ExpressionSyntaxError, parse_layer_expression
from .patterns import PatternError, compile_pattern

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


_CELL_TYPE = regex.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _pattern_error(exc: PatternError, hint: str | None = None) -> PydanticCustomError:
    return PydanticCustomError(
        "invalid_pattern",
        "{reason}",
        {
            "reason": exc.reason,
            "expected": "a regular expression in the syntax of the `regex` package",
            "hint": hint or exc.hint,
        },
    )


def _check_rule_pattern(value: str) -> str:
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise _pattern_error(exc) from None
    return value


def _check_no_decay_pattern(value: str) -> str:
    try:
        compile_pattern(value)
    except PatternError as exc:
        # An empty pattern here would exempt every parameter, which setting the
        # default weight_decay to 0 does more plainly.
        hint = "remove it; to exempt every parameter, set weight_decay: 0" if not value else None
        raise _pattern_error(exc, hint) from None
    return value


def _check_cell_type(value: str) -> str:
    if _CELL_TYPE.fullmatch(value) is None:
        raise PydanticCustomError(
            "invalid_cell_type",
            "cell type must be a bare class name",
            {
                "expected": "a class name such as LayerNorm or LlamaRMSNorm",
                "hint": "drop any module path: write LayerNorm, not mindspore.nn.LayerNorm",
            },
        )
    return value


def _whole_number_as_float(value: Any) -> Any:
    # Strict mode rejects 1 for a float field, but a whole number is still a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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
        return _check_rule_pattern(value)

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
                {
                    "expected": "an integer, 'head' or an expression such as '3 + block // 3'",
                    "hint": "quote an expression that contains a comma, as in 'min(i, 2)'",
                },
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
                        "hint": exc.hint,
                    },
                ) from None
        return value


class NoWeightDecay(_Strict):
    """The no-decay policy: the tests that give a parameter ``weight_decay = 0``.

    A parameter is exempt from weight decay when any one of the three tests holds.
    A rule's own ``weight_decay`` flag overrides all three.

    Attributes:
        names: Patterns searched anywhere in the parameter name (``regex.search``).
        max_rank: Parameters with at most this many dimensions are exempt.
        cell_types: Class names of the cell that directly owns the parameter.
            A subclass counts, so ``LayerNorm`` also exempts a user's subclass.
    """

    names: list[Annotated[str, AfterValidator(_check_no_decay_pattern)]] = Field(
        default_factory=list
    )
    max_rank: int | None = Field(default=None, ge=0)
    cell_types: list[Annotated[str, AfterValidator(_check_cell_type)]] = Field(default_factory=list)


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
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        title="grouprules rule file",
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
