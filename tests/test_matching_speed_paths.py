"""Tests for the planning shortcuts: literal prefixes, layer id reuse, norm name filter.

Each shortcut must give exactly what the plain regex path gives, so most tests
compare the two on many generated patterns and names.
"""

from __future__ import annotations

import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import grouprules.findings as findings
from grouprules import ParamRecord, RuleEvaluationError, loads_rules, make_plan
from grouprules._prefilter import literal_prefix


def prefix_of(pattern: str) -> str:
    return literal_prefix(pattern, regex.compile(pattern).flags)


def test_prefix_plain_rule_patterns() -> None:
    assert prefix_of(r"backbone\.start_cell\.") == "backbone.start_cell."
    assert prefix_of(r"blocks\.(?P<i>\d+)\.") == "blocks."
    assert prefix_of(r"model\.layers\.(\d+)\.mlp") == "model.layers."
    assert prefix_of(r"mod\_el") == "mod_el"
    assert prefix_of(r"a\|b") == "a|b"
    assert prefix_of(r"ab(?i:c)") == "ab"
    assert prefix_of(r"\.bias$") == ".bias"


def test_prefix_drops_optional_characters() -> None:
    assert prefix_of(r"abc*") == "ab"
    assert prefix_of(r"abc?d") == "ab"
    assert prefix_of(r"ab{2}") == "a"
    assert prefix_of(r"abc{0,1}") == "ab"
    assert prefix_of(r"abc+d") == "abc"
    assert prefix_of(r"abc*?") == "ab"


def test_prefix_empty_when_unsure() -> None:
    cases = [
        r"head\.|neck\.",  # top-level alternation
        r"a[|]b|c",  # alternation after a class holding "|"
        r"[]|]x",  # class first
        r"(?:neck|head)\.",  # group first
        r"x(?#()|y",  # a comment with an unbalanced parenthesis
        r"(?i)abc",  # case folded
        r"abc(?i)d",  # a global flag in the middle applies everywhere
        r"(?x)a b",  # verbose: spaces are not literal
        r"(?r)abc",  # reverse matching
        r"\dabc",  # a class first
        r"\babc",  # an anchor first
        r"^abc",  # an anchor first
        r"\x41bc",  # a character code
        r"(?V1)[[a]b]c|d",  # a nested set
        r".abc",
    ]
    for pattern in cases:
        assert prefix_of(pattern) == "", pattern


def test_prefix_respects_compile_flags() -> None:
    assert literal_prefix("abc", regex.IGNORECASE) == ""
    assert literal_prefix("abc", regex.VERBOSE) == ""
    assert literal_prefix("abc", regex.MULTILINE | regex.DOTALL) == "abc"


# Pieces of patterns and names over a small alphabet, so that random draws often
# match and often share prefixes.
_PATTERN_PIECES = [
    "a",
    "b",
    "1",
    r"\.",
    ".",
    r"\|",
    r"\d",
    "[ab]",
    "[^a]",
    "[|]",
    "(",
    "(?:",
    "(?P<n>",
    ")",
    "|",
    "*",
    "+",
    "?",
    "{0,2}",
    "$",
    "^",
    "(?i)",
    "(?i:",
    "(?#x)",
    r"\b",
    "A",
]
_NAME_ALPHABET = "ab1.A|"


@st.composite
def compiled_patterns(draw: st.DrawFn) -> regex.Pattern[str]:
    pieces = draw(st.lists(st.sampled_from(_PATTERN_PIECES), min_size=1, max_size=8))
    try:
        return regex.compile("".join(pieces))
    except regex.error:
        # Unbalanced groups and quantifiers on nothing are not patterns; draw another.
        from hypothesis import reject

        reject()
        raise AssertionError("unreachable") from None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(compiled_patterns(), st.lists(st.text(_NAME_ALPHABET, max_size=8), max_size=12))
def test_prefix_is_necessary_for_match(pattern: regex.Pattern[str], names: list[str]) -> None:
    prefix = literal_prefix(pattern.pattern, pattern.flags)

    for name in names:
        if pattern.match(name, timeout=1.0) is not None:
            assert name.startswith(prefix), (pattern.pattern, name, prefix)
        if pattern.search(name, timeout=1.0) is not None:
            assert prefix in name, (pattern.pattern, name, prefix)


def naive_first_match(rule_set, name: str):  # type: ignore[no-untyped-def]
    for rule in rule_set.rules:
        match = rule.compiled.match(name)
        if match is not None:
            return rule.index, match.groupdict()
    return None


_RULE_PATTERNS = [
    r"model\.embed\.",
    r"model\.layers\.(?P<i>\d+)\.",
    r"model\.layers\.(?P<i>\d+)\.mlp\.",
    r"model\.(?:norm|head)\.",
    r"model\.",
    r"mod",
    r"(?i)MODEL\.LAYERS\.(?P<i>\d+)",
    r"model\.layers\.1",
    r"[a-z]+\.(?P<i>\d+)",
]
_NAME_PARTS = ["model", "layers", "embed", "norm", "head", "mlp", "MODEL", "0", "12", "x"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(_RULE_PATTERNS), min_size=1, max_size=5, unique=True),
    st.lists(
        st.lists(st.sampled_from(_NAME_PARTS), min_size=1, max_size=5).map(".".join),
        max_size=20,
    ),
)
def test_first_match_equals_sequential_regex(patterns: list[str], names: list[str]) -> None:
    lines = [
        "schema_version: 1",
        "name: generated",
        "num_layers: 100",
        "layer_decay: 0.9",
        "rules:",
    ]
    for pattern in patterns:
        layer = "min(i, 100)" if "(?P<i>" in pattern else "0"
        lines.append(f"  - {{pattern: '{pattern}', layer: '{layer}'}}")
    rule_set = loads_rules("\n".join(lines) + "\n")

    for name in names:
        found = rule_set.first_match(name)
        got = None if found is None else (found[0].index, found[1].groupdict())
        assert got == naive_first_match(rule_set, name), name


RULES_TEXT = """\
schema_version: 1
name: blocks
num_layers: 4
layer_decay: 0.5
weight_decay: 0.1
rules:
  - {pattern: 'embed\\.', layer: 0}
  - {pattern: 'blocks\\.(?P<i>\\w+)\\.', layer: 'min(i + 1, head)'}
  - {pattern: 'head\\.', layer: head}
no_weight_decay:
  names: ['\\.bias$', 'norm\\.weight$']
"""


def test_layer_id_reused_per_capture() -> None:
    rules = loads_rules(RULES_TEXT)
    records = [ParamRecord(f"blocks.{i}.{kind}", (4, 4)) for i in range(3) for kind in "wv"]
    records += [ParamRecord("head.w", (2, 4)), ParamRecord("embed.w", (9, 4))]

    plan = make_plan(rules, records, check_expect=False)

    ids = {item.name: item.layer_id for item in plan.assignments}
    assert ids == {
        "blocks.0.w": 1,
        "blocks.0.v": 1,
        "blocks.1.w": 2,
        "blocks.1.v": 2,
        "blocks.2.w": 3,
        "blocks.2.v": 3,
        "head.w": 5,
        "embed.w": 0,
    }


def test_layer_id_depends_on_num_layers() -> None:
    rules = loads_rules(RULES_TEXT)
    rule = rules.rules[1]
    match = rule.match("blocks.9.w")
    assert match is not None

    assert rule.layer_id(match, 4) == 5
    assert rule.layer_id(match, 20) == 10


def test_bad_capture_raises_every_time() -> None:
    rules = loads_rules(RULES_TEXT)

    for name in ("blocks.x.w", "blocks.x.v"):
        with pytest.raises(RuleEvaluationError) as caught:
            make_plan(rules, [ParamRecord(name, (4, 4))])

        assert f"capture 'i' is 'x' for parameter {name!r}" in str(caught.value)


def test_no_decay_literal_filter_keeps_decisions() -> None:
    rules = loads_rules(RULES_TEXT)
    records = [
        ParamRecord("blocks.0.bias", (4,)),
        ParamRecord("blocks.0.biasx", (4,)),
        ParamRecord("blocks.0.norm.weight", (4,)),
        ParamRecord("blocks.0.weight", (4, 4)),
        ParamRecord("head.bias", (2,)),
    ]

    plan = make_plan(rules, records, check_expect=False)

    reasons = {item.name: item.decay_rule for item in plan.assignments}
    assert reasons == {
        "blocks.0.bias": "no_weight_decay.names[0]",
        "blocks.0.biasx": "default",
        "blocks.0.norm.weight": "no_weight_decay.names[1]",
        "blocks.0.weight": "default",
        "head.bias": "no_weight_decay.names[0]",
    }


def test_prefixed_catastrophic_rule_times_out() -> None:
    rules = loads_rules(
        "schema_version: 1\nname: slow\nnum_layers: 1\nlayer_decay: 0.5\nrules:\n"
        "  - {pattern: 'blocks\\.(a|a)+$', layer: 1}\n"
    )
    name = "blocks." + "a" * 40 + "!"

    with pytest.raises(RuleEvaluationError) as caught:
        make_plan(rules, [ParamRecord(name, (2,))])

    assert "took longer than 0.5 s" in str(caught.value)


def test_prefixed_catastrophic_no_decay_times_out() -> None:
    rules = loads_rules(
        "schema_version: 1\nname: slow\nnum_layers: 1\nlayer_decay: 0.5\n"
        "rules: [{pattern: '.*', layer: 0}]\n"
        "no_weight_decay:\n  names: ['blocks\\.(x|x)+y']\n"
    )
    name = "blocks." + "x" * 40

    with pytest.raises(RuleEvaluationError) as caught:
        make_plan(rules, [ParamRecord(name, (2,))])

    assert "took longer than 0.5 s" in str(caught.value)


_NORM_NAME_PIECES = ["norm", "NORM", "Norm", "bn", "BN1", "ln", "LN_f", "layer", "_", "1", "x", "é"]
_norm_segments = st.lists(st.sampled_from(_NORM_NAME_PIECES), min_size=1, max_size=3).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(_norm_segments, min_size=1, max_size=4).map(lambda parts: ".".join(parts) + ".w"))
@example("ln_f.weight")
@example("blocks.0.BN1.gamma")
@example("layer_NORM.beta")
@example("blocks.enormous.w")
def test_norm_filter_equals_regex(name: str) -> None:
    record = ParamRecord(name, (4,))

    expected = findings._NORM_NAME_PART.search(name) is not None

    assert findings._looks_like_norm(record) is expected
