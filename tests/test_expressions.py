"""Tests for layer expressions: a small integer grammar, parsed and evaluated without eval."""

from __future__ import annotations

import pytest

from grouprules.expressions import (
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    ExpressionSyntaxError,
    parse_layer_expression,
)


@pytest.mark.parametrize(
    ("text", "env", "value"),
    [
        ("3 + block // 3", {"block": 7}, 5),
        ("3 + block // 3", {"block": 26}, 11),
        ("i + 1", {"i": 0}, 1),
        ("2 * i + 1", {"i": 4}, 9),
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("10 - 4 - 3", {}, 3),
        ("100 // 10 // 3", {}, 3),
        ("7 % 3", {}, 1),
        ("-7 // 2", {}, -4),
        ("-7 % 3", {}, 2),
        ("--5", {}, 5),
        ("-(2 + 3) * 2", {}, -10),
        ("min(i + 1, head)", {"i": 20, "head": 13}, 13),
        ("max(0, i - 3)", {"i": 1}, 0),
        ("min(a, b, c)", {"a": 5, "b": 2, "c": 9}, 2),
        ("max(min(i, 4), 1)", {"i": 0}, 1),
        ("num_layers - i", {"num_layers": 12, "i": 2}, 10),
        ("  i  ", {"i": 3}, 3),
        ("007", {}, 7),
    ],
)
def test_expression_values(text: str, env: dict[str, int], value: int) -> None:
    assert parse_layer_expression(text).evaluate(env) == value


def test_expression_names() -> None:
    expression = parse_layer_expression("min(block // 3 + stage, head) - num_layers")

    assert expression.names == frozenset({"block", "stage", "head", "num_layers"})
    assert expression.source == "min(block // 3 + stage, head) - num_layers"


def test_function_name_without_call_is_a_name() -> None:
    assert parse_layer_expression("min + 1").names == frozenset({"min"})


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "expression is empty", 0),
        ("   ", "expression is empty", 0),
        ("i +", "expected an integer, a name or '(' at position 4, found end of expression", 3),
        ("i +* 1", "expected an integer, a name or '(' at position 4, found '*'", 3),
        ("i ** 2", "expected an integer, a name or '(' at position 4, found '*'", 3),
        ("(i + 1", "expected ')' at position 7, found end of expression", 6),
        ("i + 1)", "unexpected ')' at position 6", 5),
        ("i 1", "unexpected '1' at position 3", 2),
        ("i / 2", "unexpected character '/' at position 3", 2),
        ("1.5", "unexpected character '.' at position 2", 1),
        ("i < 2", "unexpected character '<' at position 3", 2),
        ("f(i)", "unexpected '(' at position 2", 1),
        ("min()", "expected an integer, a name or '(' at position 5, found ')'", 4),
        ("min(i,)", "expected an integer, a name or '(' at position 7, found ')'", 6),
        ("'i'", "unexpected character '''' at position 1", 0),
        ("__import__('os')", "unexpected character '''' at position 12", 11),
        ("i.__class__", "unexpected character '.' at position 2", 1),
        ("1234567890", "integer literal longer than 9 digits", 0),
    ],
)
def test_syntax_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_layer_expression(text)

    assert str(caught.value) == message
    assert caught.value.position == position
    assert caught.value.hint


def test_length_limit() -> None:
    text = "1+" * (MAX_EXPRESSION_LENGTH // 2) + "1"

    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_layer_expression(text)

    assert str(caught.value) == (
        f"expression is {len(text)} characters long, more than {MAX_EXPRESSION_LENGTH}"
    )


def test_long_sum_within_limit() -> None:
    text = "+".join(["1"] * 120)

    assert parse_layer_expression(text).evaluate({}) == 120


@pytest.mark.parametrize(
    "template",
    ["{open}i{close}", "{minus}i", "{calls}i{close}"],
)
def test_depth_limit(template: str) -> None:
    depth = MAX_EXPRESSION_DEPTH + 1
    text = template.format(
        open="(" * depth, close=")" * depth, minus="-" * depth, calls="min(" * depth
    )

    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_layer_expression(text)

    assert str(caught.value) == f"expression nests deeper than {MAX_EXPRESSION_DEPTH} levels"


def test_depth_at_limit_parses() -> None:
    depth = MAX_EXPRESSION_DEPTH
    text = "(" * depth + "i" + ")" * depth

    assert parse_layer_expression(text).evaluate({"i": 4}) == 4


@pytest.mark.parametrize("text", ["i // 0", "i % (j - j)"])
def test_division_by_zero_raises(text: str) -> None:
    with pytest.raises(ZeroDivisionError):
        parse_layer_expression(text).evaluate({"i": 3, "j": 1})


def test_missing_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        parse_layer_expression("i + j").evaluate({"i": 1})


def test_results_are_integers() -> None:
    value = parse_layer_expression("7 // 2 + 7 % 2").evaluate({})

    assert value == 4
    assert type(value) is int
