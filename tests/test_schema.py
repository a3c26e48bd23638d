"""Tests for the rule file schema models, validated directly from plain data."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from grouprules.schema import HEAD, SCHEMA_VERSION, Rule, RuleFile


def _file(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": "t",
        "num_layers": 2,
        "layer_decay": 0.5,
        "rules": [{"pattern": "a", "layer": 0}],
    }
    data.update(changes)
    return data


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        RuleFile.model_validate(data)
    return [(tuple(error["loc"]), error["type"]) for error in caught.value.errors()]


def test_defaults() -> None:
    spec = RuleFile.model_validate(_file())

    assert SCHEMA_VERSION == 1
    assert HEAD == "head"
    assert spec.weight_decay == 0.0
    assert spec.description == ""
    assert spec.no_weight_decay.names == []
    assert spec.no_weight_decay.max_rank is None
    assert spec.expect is None
    rule = spec.rules[0]
    assert (rule.name, rule.weight_decay, rule.lr_mult, rule.wd_mult) == (None, None, 1.0, 1.0)


def test_whole_numbers_accepted_as_floats() -> None:
    spec = RuleFile.model_validate(_file(layer_decay=1, weight_decay=0))

    assert spec.layer_decay == 1.0
    assert type(spec.layer_decay) is float


@pytest.mark.parametrize(
    ("changes", "loc", "kind"),
    [
        ({"schema_version": 2}, ("schema_version",), "literal_error"),
        ({"num_layers": "2"}, ("num_layers",), "int_type"),
        ({"num_layers": True}, ("num_layers",), "int_type"),
        ({"num_layers": 100_001}, ("num_layers",), "less_than_equal"),
        ({"layer_decay": True}, ("layer_decay",), "float_type"),
        ({"layer_decay": float("nan")}, ("layer_decay",), "finite_number"),
        ({"weight_decay": float("inf")}, ("weight_decay",), "finite_number"),
        ({"weight_decay": -1.0}, ("weight_decay",), "greater_than_equal"),
        ({"rules": []}, ("rules",), "too_short"),
        ({"extra": 1}, ("extra",), "extra_forbidden"),
        ({"references": "a"}, ("references",), "list_type"),
        ({"expect": {"groups": -1}}, ("expect", "groups"), "greater_than_equal"),
        (
            {"no_weight_decay": {"max_rank": -1}},
            ("no_weight_decay", "max_rank"),
            "greater_than_equal",
        ),
        (
            {"no_weight_decay": {"names": ["ok", "("]}},
            ("no_weight_decay", "names", 1),
            "invalid_pattern",
        ),
        (
            {"no_weight_decay": {"cell_types": ["Layer Norm"]}},
            ("no_weight_decay", "cell_types", 0),
            "invalid_cell_type",
        ),
    ],
)
def test_invalid_values(changes: dict[str, Any], loc: tuple[Any, ...], kind: str) -> None:
    assert (loc, kind) in _errors(_file(**changes))


@pytest.mark.parametrize(
    ("rule", "loc", "kind"),
    [
        ({"pattern": "a", "layer": True}, ("rules", 0, "layer"), "invalid_layer"),
        ({"pattern": "a", "layer": 1.0}, ("rules", 0, "layer"), "invalid_layer"),
        ({"pattern": "a", "layer": [1]}, ("rules", 0, "layer"), "invalid_layer"),
        ({"pattern": "a", "layer": "i +"}, ("rules", 0, "layer"), "invalid_layer_expression"),
        ({"pattern": "", "layer": 0}, ("rules", 0, "pattern"), "invalid_pattern"),
        ({"pattern": 5, "layer": 0}, ("rules", 0, "pattern"), "string_type"),
        (
            {"pattern": "a", "layer": 0, "lr_mult": -1},
            ("rules", 0, "lr_mult"),
            "greater_than_equal",
        ),
        (
            {"pattern": "a", "layer": 0, "weight_decay": "yes"},
            ("rules", 0, "weight_decay"),
            "bool_type",
        ),
        ({"pattern": "a"}, ("rules", 0, "layer"), "missing"),
    ],
)
def test_invalid_rules(rule: dict[str, Any], loc: tuple[Any, ...], kind: str) -> None:
    assert (loc, kind) in _errors(_file(rules=[rule]))


@pytest.mark.parametrize("layer", [0, 7, "head", " head ", "i + 1", "min(i, head)"])
def test_valid_layers(layer: int | str) -> None:
    assert Rule.model_validate({"pattern": "a", "layer": layer}).layer == layer


def test_models_are_frozen() -> None:
    spec = RuleFile.model_validate(_file())

    with pytest.raises(ValidationError):
        spec.name = "other"
