"""Hostile and broken rule files: each gets a located RuleFileError, never a traceback.

Rule files are untrusted input, so none of them may run code, and each must end
quickly whatever its size or shape. ``bench/hostile_timings.py`` times every case
in :data:`HOSTILE_FILES`; the tests here only check the errors, not the time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grouprules import ParamRecord, RuleEvaluationError, RuleFileError, loads_rules, make_plan
from grouprules.documents import MAX_FILE_BYTES
from grouprules.schema import Expect, NoWeightDecay, Rule, RuleFile

HEADER = "schema_version: 1\nname: t\nnum_layers: 2\nlayer_decay: 0.5\n"
RULES = "rules: [{pattern: a, layer: 0}]\n"


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return HEADER + "\n".join(lines) + f"\nrules: *a{levels - 1}\n"


def _merge_bomb(levels: int) -> str:
    lines = ["m0: &m0 {pattern: a, layer: 0}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level} {{<<: [" + ", ".join([f"*m{level - 1}"] * 9) + "]}")
    return HEADER + "\n".join(lines) + f"\nrules: [*m{levels - 1}]\n"


#: (case id, source name, content, expected message, expected line) for every hostile
#: file. The message is the first problem's. The line is ``None`` where none is known.
HOSTILE_FILES: list[tuple[str, str, str | bytes, str, int | None]] = [
    (
        "python-object-apply",
        "h.yaml",
        HEADER + "rules: !!python/object/apply:os.system ['touch pwned']\n",
        "YAML tag !!python/object/apply:os.system is not allowed",
        5,
    ),
    (
        "python-name-scalar",
        "h.yaml",
        HEADER + "rules: [{pattern: !!python/name:os.system a, layer: 0}]\n",
        "YAML tag !!python/name:os.system is not allowed",
        5,
    ),
    (
        "python-module-key",
        "h.yaml",
        HEADER + RULES + "!!python/module:os x: 1\n",
        "YAML tag !!python/module:os is not allowed",
        6,
    ),
    ("custom-tag", "h.yaml", HEADER + "rules: !rules []\n", "YAML tag !rules is not allowed", 5),
    ("set-tag", "h.yaml", HEADER + "rules: !!set {a: null}\n", "YAML tag !!set is not allowed", 5),
    (
        "binary-tag",
        "h.yaml",
        "schema_version: 1\nname: !!binary aGVsbG8=\n",
        "YAML tag !!binary is not allowed",
        2,
    ),
    (
        "explicit-int-tag",
        "h.yaml",
        HEADER + "rules: [{pattern: a, layer: !!int abc}]\n",
        "cannot read 'abc' as !!int",
        5,
    ),
    (
        "explicit-bool-tag",
        "h.yaml",
        HEADER + "rules: [{pattern: a, layer: 0, weight_decay: !!bool maybe}]\n",
        "cannot read 'maybe' as !!bool",
        5,
    ),
    (
        "billion-laughs",
        "h.yaml",
        _laughs(10),
        "the file expands to more than 10000 values",
        5,
    ),
    ("merge-bomb", "h.yaml", _merge_bomb(10), "the file expands to more than 10000 values", 5),
    (
        "recursive-alias",
        "h.yaml",
        HEADER + "rules: &r [*r]\n",
        "nesting is deeper than 32 levels",
        5,
    ),
    (
        "recursive-merge",
        "h.yaml",
        HEADER + "rules:\n  - &r {<<: *r, pattern: a, layer: 0}\n",
        "nesting is deeper than 32 levels",
        6,
    ),
    (
        "alias-as-key",
        "h.yaml",
        HEADER + 'x: &x ["a", "b"]\n? *x\n: 1\n' + RULES,
        "mapping key is a list",
        # An alias shares the node of its anchor, so the line is where the anchor is set.
        5,
    ),
    (
        "deep-flow-nesting",
        "h.yaml",
        HEADER + "rules: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "nesting is deeper than 32 levels",
        5,
    ),
    (
        "deep-block-nesting",
        "h.yaml",
        HEADER + "rules:\n" + "".join("  " * (depth + 1) + "- \n" for depth in range(60)),
        "nesting is deeper than 32 levels",
        38,
    ),
    (
        "many-values",
        "h.yaml",
        HEADER + "references: [" + "a, " * 60_000 + "a]\n" + RULES,
        "the file contains more than 10000 values",
        5,
    ),
    (
        "oversize-text",
        "h.yaml",
        HEADER + RULES + "#" * MAX_FILE_BYTES,
        f"file is {MAX_FILE_BYTES + 89} bytes, more than the limit of {MAX_FILE_BYTES}",
        None,
    ),
    (
        "invalid-utf8",
        "h.yaml",
        HEADER.encode() + b"name2: \xc3\x28\n",
        "file is not valid UTF-8: byte 0xc3 at offset 64",
        5,
    ),
    (
        "control-character",
        "h.yaml",
        HEADER + "description: \x07\n" + RULES,
        "invalid YAML: control character 0x0007 is not allowed",
        5,
    ),
    (
        "nul-in-toml",
        "h.toml",
        'schema_version = 1\nname = "a\x00"\n',
        "invalid TOML: Illegal character '\\x00'",
        2,
    ),
    (
        "deep-toml",
        "h.toml",
        "schema_version = 1\nx = " + "[" * 50_000 + "]" * 50_000 + "\n",
        "nesting is deeper than 32 levels",
        None,
    ),
    (
        "many-toml-values",
        "h.toml",
        "schema_version = 1\nreferences = [" + '"a", ' * 20_000 + '"a"]\n',
        "the file contains more than 10000 values",
        None,
    ),
    (
        "toml-header-spaces",
        "h.toml",
        'schema_version = 1\nname = "t"\nnum_layers = 1\nlayer_decay = 0.5\n[rules'
        + " " * 100_000
        + "]\n",
        "Input should be a valid list",
        5,
    ),
    (
        "duplicate-yaml-key",
        "h.yaml",
        HEADER + RULES + "name: u\n",
        "duplicate key 'name', first set on line 2",
        6,
    ),
    (
        "duplicate-toml-key",
        "h.toml",
        'schema_version = 1\nname = "t"\nname = "u"\n',
        "duplicate key 'name', first set on line 2",
        3,
    ),
    (
        "repeat-compile-bomb",
        "h.yaml",
        HEADER + "rules: [{pattern: '(?:a{60000}){60000}', layer: 0}]\n",
        "counted repeats such as {1000} would unroll to more than 100000 nodes",
        5,
    ),
    (
        "deep-pattern-groups",
        "h.yaml",
        HEADER + "rules: [{pattern: '" + "(" * 5000 + ")" * 5000 + "', layer: 0}]\n",
        "pattern is 10000 characters long, more than 4096",
        5,
    ),
    (
        "nested-pattern-groups",
        "h.yaml",
        HEADER + "no_weight_decay: {names: ['" + "(?:" * 70 + ")" * 70 + "']}\n" + RULES,
        "groups nest deeper than 64 levels",
        5,
    ),
    (
        "expression-code",
        "h.yaml",
        HEADER + "rules: [{pattern: a, layer: \"__import__('os').system('x')\"}]\n",
        "layer expression is invalid: unexpected character '''' at position 12",
        5,
    ),
    (
        "expression-attribute",
        "h.yaml",
        HEADER + "rules: [{pattern: a, layer: 'num_layers.__class__'}]\n",
        "layer expression is invalid: unexpected character '.' at position 11",
        5,
    ),
    (
        "expression-long",
        "h.yaml",
        HEADER + "rules: [{pattern: 'a(?P<i>\\d)', layer: '" + "i+" * 200 + "i'}]\n",
        "layer expression is invalid: expression is 401 characters long, more than 256",
        5,
    ),
    (
        "expression-deep",
        "h.yaml",
        HEADER + "rules: [{pattern: 'a(?P<i>\\d)', layer: '" + "-" * 100 + "i'}]\n",
        "layer expression is invalid: expression nests deeper than 32 levels",
        5,
    ),
    (
        "expression-power",
        "h.yaml",
        HEADER + "rules: [{pattern: 'a(?P<i>\\d)', layer: 'i ** 99999'}]\n",
        "layer expression is invalid: expected an integer, a name or '(' at position 4, found '*'",
        5,
    ),
]


@pytest.mark.parametrize(
    ("source", "content", "message", "line"),
    [case[1:] for case in HOSTILE_FILES],
    ids=[case[0] for case in HOSTILE_FILES],
)
def test_hostile_file_rejected(
    source: str, content: str | bytes, message: str, line: int | None
) -> None:
    with pytest.raises(RuleFileError) as caught:
        loads_rules(content, source=source)

    first = caught.value.problems[0]
    assert first.message == message
    assert first.line == line
    assert first.file == source
    assert first.hint


def test_python_tag_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = HEADER + f"rules: !!python/object/apply:os.system ['touch {marker}']\n"

    with pytest.raises(RuleFileError):
        loads_rules(text)

    assert not marker.exists()


def test_python_tag_located_format() -> None:
    with pytest.raises(RuleFileError) as caught:
        loads_rules(HEADER + "rules: !!python/object:os.system {}\n", source="h.yaml")

    assert str(caught.value) == (
        "h.yaml:5:8: rules: YAML tag !!python/object:os.system is not allowed\n"
        "  expected: plain YAML mappings, lists, strings, numbers, booleans and null\n"
        "  Hint: remove the tag; rule files never construct objects"
    )


def test_catastrophic_rule_pattern_times_out() -> None:
    rules = loads_rules(
        HEADER + "rules:\n  - {name: greedy, pattern: '(a|a)+$', layer: 0}\n", source="h.yaml"
    )
    name = "a" * 40 + "!"

    with pytest.raises(RuleEvaluationError) as caught:
        make_plan(rules, [ParamRecord(name, (2,))])

    error = caught.value
    assert str(error) == (
        f"h.yaml:6:29: rules[0].pattern (greedy): matching '(a|a)+$' against parameter "
        f"{name!r} took longer than 0.5 s\n"
        "  Hint: the pattern backtracks catastrophically; remove nested repeats such as (a+)+, "
        "or use an atomic group (?>...)"
    )
    assert (error.trail, error.rule, error.parameter) == ("rules[0].pattern", "greedy", name)
    assert (error.line, error.column) == (6, 29)


def test_catastrophic_no_decay_pattern_times_out() -> None:
    rules = loads_rules(
        HEADER + "rules: [{pattern: '.*', layer: 0}]\nno_weight_decay:\n  names: ['(x|x)+y']\n",
        source="h.yaml",
    )
    name = "x" * 40

    with pytest.raises(RuleEvaluationError) as caught:
        make_plan(rules, [ParamRecord(name, (2,))])

    assert str(caught.value).startswith(
        f"h.yaml:7:11: no_weight_decay.names[0]: searching '(x|x)+y' in parameter {name!r} "
        "took longer than 0.5 s\n"
    )
    assert caught.value.rule is None


def test_huge_capture_rejected() -> None:
    rules = loads_rules(
        HEADER + "rules: [{name: blocks, pattern: 'b(?P<i>\\d+)', layer: 'min(i, 2)'}]\n",
        source="h.yaml",
    )
    name = "b" + "9" * 5000

    with pytest.raises(RuleEvaluationError) as caught:
        make_plan(rules, [ParamRecord(name, (2,))])

    assert caught.value.reason.startswith("capture 'i' is '99999")
    assert caught.value.reason.endswith(", not an integer of at most 9 digits")


def _wrong_values(annotation: Any) -> list[Any]:
    text = str(annotation)
    values: list[Any] = [{"nested": 1}]
    if "list" not in text:
        values.append(["a"])
    if "str" not in text:
        values.append("text")
    if "int" in text or "float" in text:
        values.append(True)
    if text in ("<class 'str'>", "str | None"):
        values.append(12)
    return values


def _keys_with_wrong_values() -> list[tuple[str, Any]]:
    cases = []
    for model, prefix in (
        (RuleFile, ""),
        (Rule, "rules[0]."),
        (NoWeightDecay, "no_weight_decay."),
        (Expect, "expect."),
    ):
        for key, field in model.model_fields.items():
            if key in ("rules", "no_weight_decay", "expect") and model is RuleFile:
                continue
            for value in _wrong_values(field.annotation):
                cases.append((prefix + key, value))
    return cases


def _document(trail: str, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "name": "t",
        "num_layers": 2,
        "layer_decay": 0.5,
        "rules": [{"pattern": "a", "layer": 0}],
    }
    if trail.startswith("rules[0]."):
        document["rules"][0][trail.split(".")[1]] = value
    elif "." in trail:
        section, key = trail.split(".")
        document[section] = {key: value}
    else:
        document[trail] = value
    return document


@pytest.mark.parametrize(("trail", "value"), _keys_with_wrong_values())
def test_wrong_type_everywhere(trail: str, value: Any) -> None:
    import yaml

    text = yaml.safe_dump(_document(trail, value), sort_keys=False)

    with pytest.raises(RuleFileError) as caught:
        loads_rules(text, source="h.yaml")

    problems = caught.value.problems
    assert len(problems) >= 1
    first = problems[0]
    assert first.trail.startswith(trail), first.format()
    assert first.line is not None
    assert first.expected, first.format()
    assert "Traceback" not in str(caught.value)


def test_oversize_bytes_rejected_before_decoding() -> None:
    content = b"\xff" * (MAX_FILE_BYTES + 1)

    with pytest.raises(RuleFileError) as caught:
        loads_rules(content, source="h.yaml")

    assert caught.value.problems[0].message == (
        f"file is {MAX_FILE_BYTES + 1} bytes, more than the limit of {MAX_FILE_BYTES}"
    )
