"""Tests for compiling rule file patterns with a bounded cost."""

from __future__ import annotations

import pytest

from grouprules.patterns import (
    MAX_GROUP_DEPTH,
    MAX_PATTERN_LENGTH,
    MAX_REPEAT_WEIGHT,
    PatternError,
    compile_pattern,
)


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (r"blocks\.(?P<i>\d+)\.", "blocks.3.weight"),
        (r"(?:neck|head)\.", "head.dense.bias"),
        (r"\d{1,3}\.", "12.weight"),
        (r"(?:a{100}){100}", "a" * 10_000),
        (r"\p{L}+", "weight"),
        (r"(?V1)[[a-z]--[aeiou]]+", "xyz"),
        (r"(?:abc){e<=1}", "abd"),
        (r"[{]{2}", "{{"),
        (r"\{1000}", "{1000}"),
        (".*", ""),
    ],
)
def test_ordinary_patterns_compile(pattern: str, name: str) -> None:
    assert compile_pattern(pattern).match(name) is not None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "pattern is empty, so it matches every parameter"),
        (
            "a" * (MAX_PATTERN_LENGTH + 1),
            f"pattern is {MAX_PATTERN_LENGTH + 1} characters long, more than {MAX_PATTERN_LENGTH}",
        ),
        (
            "(?:a{60000}){60000}",
            f"counted repeats such as {{1000}} would unroll to more than {MAX_REPEAT_WEIGHT} nodes",
        ),
        (
            "(a{1000}){1000}",
            f"counted repeats such as {{1000}} would unroll to more than {MAX_REPEAT_WEIGHT} nodes",
        ),
        (
            "a{60000}" * 2,
            f"counted repeats such as {{1000}} would unroll to more than {MAX_REPEAT_WEIGHT} nodes",
        ),
        (
            "(" * (MAX_GROUP_DEPTH + 1) + ")" * (MAX_GROUP_DEPTH + 1),
            f"groups nest deeper than {MAX_GROUP_DEPTH} levels",
        ),
        ("blocks\\.(\\d+", "pattern does not compile: missing ) at position 12"),
        (
            "a{99999999999}",
            f"counted repeats such as {{1000}} would unroll to more than {MAX_REPEAT_WEIGHT} nodes",
        ),
        ("a{2,1}", "pattern does not compile: min repeat greater than max repeat at position 2"),
        ("\\p{Bogus}", "pattern does not compile: unknown property at position 9"),
    ],
)
def test_costly_or_invalid_patterns_rejected(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)

    assert caught.value.reason == reason
    assert caught.value.hint


def test_repeat_weight_at_limit_compiles() -> None:
    compiled = compile_pattern("a{1000}" * (MAX_REPEAT_WEIGHT // 1000))

    assert compiled.match("a" * MAX_REPEAT_WEIGHT) is not None


def test_group_depth_at_limit_compiles() -> None:
    pattern = "(" * MAX_GROUP_DEPTH + "a" + ")" * MAX_GROUP_DEPTH

    assert compile_pattern(pattern).match("a") is not None


def test_braces_in_class_not_a_repeat() -> None:
    # The class [{5000}] is one character, so its braces add no repeat weight.
    assert compile_pattern("[{5000}]" * 30).match("{" * 30) is not None
