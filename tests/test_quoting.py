"""Tests for quoting rule file values in messages as YAML writes them."""

from __future__ import annotations

import datetime

import pytest
import yaml

from grouprules._quoting import MAX_VALUE_CHARS, format_value, quoted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("blocks\\.(?P<i>\\d+)\\.", "'blocks\\.(?P<i>\\d+)\\.'"),
        ("it's", "'it''s'"),
        ("", "''"),
        ("日本語", "'日本語'"),
        ("a\nb", '"a\\nb"'),
        ("a\tb\\c", '"a\\tb\\\\c"'),
        ('say "hi"\r', '"say \\"hi\\"\\r"'),
        ("\x01\u2028\U000e0001", '"\\x01\\u2028\\U000e0001"'),
        ("\xa0", '"\\xa0"'),
    ],
)
def test_quoted_forms(text: str, expected: str) -> None:
    assert quoted(text) == expected


@pytest.mark.parametrize(
    "text",
    ["blocks\\.(?P<i>\\d+)\\.", "it's", "(?:^|\\.)norm\\.", "a\nb", "tab\there", "\x07\u2028x"],
)
def test_quoted_reads_back_as_yaml(text: str) -> None:
    assert yaml.safe_load(f"pattern: {quoted(text)}") == {"pattern": text}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (12, "12"),
        (1e-05, "1e-05"),
        (0.5, "0.5"),
        (float("inf"), ".inf"),
        (float("-inf"), "-.inf"),
        (float("nan"), ".nan"),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (["norm", 1, None], "['norm', 1, null]"),
        ({"pattern": "a\\.", "layer": 1}, "{pattern: 'a\\.', layer: 1}"),
        ({"two words": [], 3: {}}, "{'two words': [], 3: {}}"),
    ],
)
def test_format_value_forms(value: object, expected: str) -> None:
    assert format_value(value) == expected


def test_format_value_cuts_long_text() -> None:
    text = format_value("x" * 500)

    assert len(text) == MAX_VALUE_CHARS
    assert text == "'" + "x" * (MAX_VALUE_CHARS - 4) + "..."


def test_format_value_cuts_aliased_list() -> None:
    # What a YAML alias repeated many times builds: one large string, referenced everywhere.
    large = "y" * 200_000
    value = [large] * 10_000

    text = format_value(value)

    assert len(text) == MAX_VALUE_CHARS
    assert text.startswith("['yyy")
    assert text.endswith("...")
