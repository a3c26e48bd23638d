"""Tests for loading rule files: every error names its location, trail, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from grouprules import Problem, RuleFileError, load_rules, loads_rules
from grouprules.documents import toml_positions
from grouprules.errors import ArgumentError
from grouprules.loading import MAX_FILE_BYTES

HEADER = "schema_version: 1\nname: t\nnum_layers: 2\nlayer_decay: 0.5\n"
TOML_HEADER = 'schema_version = 1\nname = "t"\nnum_layers = 2\nlayer_decay = 0.5\n'


def _problems(text: str | bytes, source: str = "r.yaml") -> tuple[Problem, ...]:
    with pytest.raises(RuleFileError) as caught:
        loads_rules(text, source=source)
    return caught.value.problems


def _only(text: str | bytes, source: str = "r.yaml") -> Problem:
    problems = _problems(text, source)
    assert len(problems) == 1, [problem.format() for problem in problems]
    return problems[0]


def test_valid_file_loads() -> None:
    rules = loads_rules(
        HEADER
        + "weight_decay: 0.05\n"
        + "rules:\n"
        + "  - {name: stem, pattern: 'stem\\.', layer: 0}\n"
        + "  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'min(i + 1, 2)'}\n"
        + "  - {pattern: 'head\\.', layer: head, lr_mult: 2, wd_mult: 0.5}\n"
        + "no_weight_decay: {names: ['\\.bias$'], max_rank: 1, cell_types: [LayerNorm]}\n"
        + "expect: {parameters: 4}\n"
    )

    assert rules.source == "<string>"
    assert rules.head_id == 3
    assert [rule.label for rule in rules.rules] == ["stem", "rules[1]", "rules[2]"]
    assert rules.rules[0].layer == 0
    assert rules.rules[2].layer == 3
    assert rules.rules[2].lr_mult == 2.0
    assert rules.spec.weight_decay == 0.05
    assert rules.spec.no_weight_decay.cell_types == ["LayerNorm"]
    assert rules.positions["rules[1].layer"] == (8, 46)


def test_float_without_dot_reads_as_float() -> None:
    rules = loads_rules(HEADER + "weight_decay: 1e-5\nrules: [{pattern: a, layer: 0}]\n")

    assert rules.spec.weight_decay == 1e-5


def test_unknown_key_suggests_name() -> None:
    problems = _problems(
        "schema_version: 1\nname: t\nnum_layer: 2\nlayer_decay: 0.5\n"
        "rules:\n  - {pattern: 'a', layer: 0}\n"
    )

    assert [problem.format() for problem in problems] == [
        "r.yaml:1:1: num_layers: required key 'num_layers' is missing\n"
        "  Hint: add the key `num_layers` to this mapping",
        "r.yaml:3:1: num_layer: unknown key 'num_layer'\n"
        "  value: 2\n"
        "  expected: one of: schema_version, name, description, architecture, naming, "
        "references, num_layers, layer_decay, weight_decay, rules, no_weight_decay, expect\n"
        "  Hint: did you mean 'num_layers'?",
    ]


def test_unknown_rule_key_suggests_name() -> None:
    problems = _problems(HEADER + "rules:\n  - patern: 'a'\n    layer: 0\n")

    unknown = problems[1]
    assert unknown.message == "unknown key 'patern'"
    assert (unknown.line, unknown.column) == (6, 5)
    assert unknown.trail == "rules[0].patern"
    assert unknown.value == "'a'"
    assert unknown.expected == (
        "one of: pattern, layer, name, description, weight_decay, lr_mult, wd_mult"
    )
    assert unknown.hint == "did you mean 'pattern'?"


def test_unknown_key_without_close_name() -> None:
    problem = _only(HEADER + "rules: [{pattern: a, layer: 0}]\nzzz: 1\n")

    assert problem.message == "unknown key 'zzz'"
    assert problem.hint == "remove the key"


def test_unknown_expect_key() -> None:
    problem = _only(HEADER + "rules: [{pattern: a, layer: 0}]\nexpect: {parameter: 3}\n")

    assert problem.format() == (
        "r.yaml:6:10: expect.parameter: unknown key 'parameter'\n"
        "  value: 3\n"
        "  expected: one of: parameters, layer_ids, groups, no_weight_decay\n"
        "  Hint: did you mean 'parameters'?"
    )


def test_schema_version_checked_first() -> None:
    problem = _only("schema_version: 2\nbogus: 1\nrules: 5\n")

    assert problem.format() == (
        "r.yaml:1:17: schema_version: unsupported schema_version\n"
        "  value: 2\n"
        "  expected: schema_version: 1\n"
        "  Hint: this grouprules release reads version 1 files; upgrade grouprules or rewrite "
        "the file for version 1"
    )


def test_schema_version_missing() -> None:
    problem = _only("name: t\n")

    assert problem.format() == (
        "r.yaml:1:1: schema_version: required key 'schema_version' is missing\n"
        "  expected: schema_version: 1\n"
        "  Hint: add `schema_version: 1` as the first line"
    )


@pytest.mark.parametrize("version", ["true", "'1'", "1.5", "0"])
def test_schema_version_wrong_type(version: str) -> None:
    problem = _only(f"schema_version: {version}\nname: t\n")

    assert problem.trail == "schema_version"
    assert problem.line == 1
    assert problem.expected == "schema_version: 1"


@pytest.mark.parametrize(("text", "value"), [("- a\n- b\n", "['a', 'b']"), ("", "null")])
def test_document_not_mapping(text: str, value: str) -> None:
    problem = _only(text)

    assert problem.format() == (
        "r.yaml:1:1: the file is not a mapping of keys to values\n"
        f"  value: {value}\n"
        "  expected: a mapping that starts with `schema_version: 1`\n"
        "  Hint: see docs/rule-files.md for the layout"
    )


def test_pattern_compile_error_located() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'blocks\\.(\\d+', layer: 0}\n")

    assert problem.format() == (
        "r.yaml:6:15: rules[0].pattern: pattern does not compile: missing ) at position 12\n"
        "  value: 'blocks\\.(\\d+'\n"
        "  expected: a regular expression in the syntax of the `regex` package\n"
        "  Hint: escape literal dots as `\\.` and check brackets and parentheses"
    )


def test_no_decay_pattern_error_has_index() -> None:
    problem = _only(
        HEADER + "rules: [{pattern: a, layer: 0}]\nno_weight_decay:\n  names: ['\\.bias$', '(']\n"
    )

    assert problem.trail == "no_weight_decay.names[1]"
    assert (problem.line, problem.column) == (7, 22)
    assert problem.message == "pattern does not compile: missing ) at position 1"


def test_empty_patterns_rejected() -> None:
    rule = _only(HEADER + "rules:\n  - {pattern: '', layer: 0}\n")
    no_decay = _only(HEADER + "rules: [{pattern: a, layer: 0}]\nno_weight_decay: {names: ['']}\n")

    assert rule.message == "pattern is empty, so it matches every parameter"
    assert rule.hint == "write '.*' for an explicit catch-all"
    assert no_decay.message == "pattern is empty, so it matches every parameter"
    assert no_decay.hint == "remove it; to exempt every parameter, set weight_decay: 0"


def test_expression_reads_missing_capture() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'j + 1'}\n")

    assert problem.format() == (
        "r.yaml:6:46: rules[0].layer: layer expression reads j, which the pattern does not "
        "capture\n"
        "  value: 'j + 1'\n"
        "  expected: names among the pattern's named captures (i), num_layers or head\n"
        "  Hint: capture it in the pattern, as in (?P<j>\\d+)"
    )


def test_expression_without_captures_names_none() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'blocks', layer: 'block + 1'}\n")

    assert problem.expected == "names among the pattern's named captures (none), num_layers or head"


def test_expression_syntax_error() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'b(?P<i>\\d+)', layer: 'i +* 1'}\n")

    assert problem.trail == "rules[0].layer"
    assert problem.message == (
        "layer expression is invalid: expected an integer, a name or '(' at position 4, found '*'"
    )
    assert problem.expected == (
        "integers, named captures, + - * // %, min(), max() and parentheses"
    )


def test_fixed_layer_outside_range() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'a', layer: 4}\n")

    assert problem.format() == (
        "r.yaml:6:27: rules[0].layer: layer id 4 is outside 0..3\n"
        "  value: 4\n"
        "  expected: an id from 0 to num_layers + 1 = 3\n"
        "  Hint: raise num_layers, or write `head` for the head id"
    )


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("'head + 1'", "layer expression gives layer id 4, outside 0..3"),
        ("'-1'", "layer expression gives layer id -1, outside 0..3"),
        ("'num_layers // 0'", "layer expression divides by zero"),
    ],
)
def test_constant_expression_checked_at_load(layer: str, message: str) -> None:
    problem = _only(HEADER + f"rules:\n  - {{pattern: 'a', layer: {layer}}}\n")

    assert problem.trail == "rules[0].layer"
    assert problem.message == message


def test_constant_expression_in_range_loads() -> None:
    rules = loads_rules(HEADER + "rules:\n  - {pattern: 'a', layer: 'num_layers'}\n")

    assert rules.rules[0].layer.evaluate({"num_layers": 2, "head": 3}) == 2  # type: ignore[union-attr]


def test_layer_of_wrong_type() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'a', layer: 1.5}\n")

    assert problem.format() == (
        "r.yaml:6:27: rules[0].layer: layer must be an integer, 'head' or an integer expression\n"
        "  value: 1.5\n"
        "  expected: an integer, 'head' or an expression such as '3 + block // 3'\n"
        "  Hint: quote an expression that contains a comma, as in 'min(i, 2)'"
    )


def test_duplicate_rule_names() -> None:
    problem = _only(
        HEADER
        + "rules:\n  - {name: x, pattern: 'a', layer: 0}\n  - {name: x, pattern: 'b', layer: 1}\n"
    )

    assert problem.format() == (
        "r.yaml:7:12: rules[1].name: rule name 'x' is already used by rules[0]\n"
        "  value: 'x'\n"
        "  expected: a name no other rule has\n"
        "  Hint: give each rule its own name; reports and findings refer to rules by name"
    )


def test_duplicate_rule_names_quoted_as_yaml() -> None:
    problem = _only(
        HEADER + "rules:\n"
        "  - {name: 'it''s a\\b', pattern: 'a', layer: 0}\n"
        "  - {name: 'it''s a\\b', pattern: 'b', layer: 1}\n"
    )

    assert problem.message == "rule name 'it''s a\\b' is already used by rules[0]"
    assert problem.value == "'it''s a\\b'"
    assert problem.raw_value == "it's a\\b"


def test_reserved_capture_name() -> None:
    problem = _only(HEADER + "rules:\n  - {pattern: 'a(?P<head>\\d)', layer: 'head - 1'}\n")

    assert problem.trail == "rules[0].pattern"
    assert problem.message == ("the pattern captures 'head', a name reserved for layer expressions")
    assert problem.hint == "rename the capture, as in (?P<head_index>\\d+)"


def test_duplicate_yaml_key() -> None:
    problem = _only(HEADER + "rules:\n  - pattern: 'a'\n    layer: 0\n    layer: 1\n")

    assert problem.format() == (
        "r.yaml:8:5: rules[0].layer: duplicate key 'layer', first set on line 7\n"
        "  value: 'layer'\n"
        "  expected: each key once per mapping\n"
        "  Hint: delete one of the two entries; the later one would not silently replace the "
        "earlier one"
    )


@pytest.mark.parametrize(
    ("setting", "expected", "hint"),
    [
        ("num_layers: '2'", "an integer", "remove the quotes around the value"),
        ("num_layers: 2.5", "an integer", "write a whole number without a decimal point"),
        ("num_layers: -1", "a number of at least 0", "write a number of at least 0"),
        ("layer_decay: 1.5", "a number of at most 1.0", "write a number of at most 1.0"),
        ("layer_decay: 0", "a number greater than 0.0", "write a number greater than 0.0"),
        (
            "weight_decay: .inf",
            "a finite number",
            "write a finite number; .inf and .nan are not allowed",
        ),
        (
            "name: no",
            "a string",
            "quote the value: YAML reads yes, no, on, off, true and false as booleans",
        ),
        ("name: 12", "a string", "quote the value to make it a string"),
        ("references: a", "a list", "write a list"),
        ("no_weight_decay: [a]", "a mapping", "write a mapping"),
    ],
)
def test_wrong_value_explained(setting: str, expected: str, hint: str | None) -> None:
    key = setting.split(":")[0]
    text = HEADER.replace(f"{key}: ", f"old_{key}: ") if key in HEADER else HEADER
    text = "\n".join(line for line in text.splitlines() if not line.startswith("old_"))
    problem = _only(text + f"\n{setting}\nrules: [{{pattern: a, layer: 0}}]\n")

    assert problem.trail == key
    assert problem.expected == expected
    assert problem.hint == hint


def test_empty_rule_list() -> None:
    problem = _only(HEADER + "rules: []\n")

    assert problem.message == "List should have at least 1 item after validation, not 0"
    assert problem.hint == "add at least one entry"


def test_cell_type_must_be_class_name() -> None:
    problem = _only(
        HEADER + "rules: [{pattern: a, layer: 0}]\n"
        "no_weight_decay:\n  cell_types: [mindspore.nn.LayerNorm]\n"
    )

    assert problem.format() == (
        "r.yaml:7:16: no_weight_decay.cell_types[0]: cell type must be a bare class name\n"
        "  value: 'mindspore.nn.LayerNorm'\n"
        "  expected: a class name such as LayerNorm or LlamaRMSNorm\n"
        "  Hint: drop any module path: write LayerNorm, not mindspore.nn.LayerNorm"
    )


def test_problems_sorted_by_line() -> None:
    problems = _problems(
        HEADER.replace("layer_decay: 0.5", "layer_decay: 2")
        + "rules:\n  - {pattern: 'a', layer: 0, lr_mult: -1}\n  - {pattern: '(', layer: 0}\n"
    )

    assert [(problem.line, problem.trail) for problem in problems] == [
        (4, "layer_decay"),
        (6, "rules[0].lr_mult"),
        (7, "rules[1].pattern"),
    ]


def test_merge_key_allows_override() -> None:
    rules = loads_rules(
        HEADER
        + "rules:\n"
        + "  - &first {pattern: 'a\\.', layer: 0, lr_mult: 2}\n"
        + "  - {<<: *first, pattern: 'b\\.', layer: 1}\n"
        + "  - {<<: [*first], pattern: 'c\\.'}\n"
    )

    assert [(rule.pattern, rule.layer, rule.lr_mult) for rule in rules.rules] == [
        ("a\\.", 0, 2.0),
        ("b\\.", 1, 2.0),
        ("c\\.", 0, 2.0),
    ]


def test_merge_of_scalar_rejected() -> None:
    problem = _only(HEADER + "rules:\n  - {<<: 5, pattern: a, layer: 0}\n")

    assert problem.message == "a merge key (<<) must refer to a mapping or a list of mappings"
    assert (problem.line, problem.trail) == (6, "rules[0]")


def test_toml_unknown_key_located() -> None:
    problems = _problems(
        TOML_HEADER + '\n[[rules]]\npattern = "a"\nlayer = 0\n\n[[rules]]\npatern = "b"\n'
        "layer = 1\n",
        "r.toml",
    )

    assert [problem.location for problem in problems] == ["r.toml:10:1", "r.toml:11:1"]
    assert problems[1].trail == "rules[1].patern"
    assert problems[1].hint == "did you mean 'pattern'?"


def test_toml_missing_top_level_key_located() -> None:
    text = '# tiny rules\nschema_version = 1\nname = "t"\nlayer_decay = 0.5\n'
    yaml_text = "# tiny rules\nschema_version: 1\nname: t\nlayer_decay: 0.5\n"
    text += '\n[[rules]]\npattern = "a"\nlayer = 0\n'
    yaml_text += "rules:\n  - {pattern: a, layer: 0}\n"

    problem = _only(text, "r.toml")

    assert problem.format() == (
        "r.toml:2:1: num_layers: required key 'num_layers' is missing\n"
        "  Hint: add the key `num_layers` to this mapping"
    )
    assert _only(yaml_text).location == "r.yaml:2:1"


def test_toml_missing_key_in_table_located() -> None:
    problem = _only(TOML_HEADER + '\n[[rules]]\npattern = "a"\n', "r.toml")

    assert problem.location == "r.toml:6:1"
    assert problem.trail == "rules[0].layer"


def test_toml_missing_keys_at_first_line() -> None:
    problems = _problems("schema_version = 1\n", "r.toml")

    assert [problem.location for problem in problems] == ["r.toml:1:1"] * 4
    assert toml_positions("# only a comment\n") == ({"": (1, 1)}, [])


def test_toml_inline_table_falls_back() -> None:
    problem = _only(
        TOML_HEADER
        + 'rules = [\n  {pattern = "a", layer = 0},\n  {pattern = "b(", layer = 1},\n]\n',
        "r.toml",
    )

    assert problem.trail == "rules[1].pattern"
    assert problem.location == "r.toml:5:1"


def test_toml_duplicate_key() -> None:
    problem = _only(TOML_HEADER + '\n[[rules]]\npattern = "a"\nlayer = 0\nlayer = 1\n', "r.toml")

    assert problem.format() == (
        "r.toml:9:1: rules[0].layer: duplicate key 'layer', first set on line 8\n"
        "  expected: each key and table once\n"
        "  Hint: delete one of the two entries; the later one would not silently replace the "
        "earlier one"
    )


def test_toml_duplicate_table() -> None:
    problem = _only(
        TOML_HEADER + "[no_weight_decay]\nmax_rank = 1\n[no_weight_decay]\nnames = []\n",
        "r.toml",
    )

    assert problem.location == "r.toml:7:1"
    assert problem.message == "duplicate key 'no_weight_decay', first set on line 5"


def test_toml_syntax_error() -> None:
    problem = _only(TOML_HEADER + '[[rules]]\npattern = "a\nlayer = 0\n', "r.toml")

    assert problem.format() == (
        "r.toml:6:13: invalid TOML: Illegal character '\\n'\n"
        "  expected: a TOML document\n"
        "  Hint: check quoting and brackets near this line; each key may be set only once"
    )


def test_toml_multiline_string_not_scanned() -> None:
    problem = _only(
        TOML_HEADER + 'description = """\nrules = 5\n"""\n[[rules]]\npattern = "a"\nlayer = 9\n',
        "r.toml",
    )

    assert problem.location == "r.toml:10:1"
    assert problem.message == "layer id 9 is outside 0..3"


def test_toml_schema_version_first() -> None:
    problem = _only("schema_version = 3\nname = 5\n", "r.toml")

    assert problem.location == "r.toml:1:1"
    assert problem.message == "unsupported schema_version"


def test_format_guessed_from_text() -> None:
    rules = loads_rules(TOML_HEADER + '[[rules]]\npattern = "a"\nlayer = 0\n')

    assert rules.spec.name == "t"


def test_format_argument() -> None:
    with pytest.raises(ArgumentError) as caught:
        loads_rules(HEADER, fmt="json")

    assert str(caught.value) == "fmt must be 'yaml', 'toml' or None, not 'json'"


def test_load_rules_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_bytes(("\ufeff" + HEADER + "rules: [{pattern: a, layer: 0}]\n").encode())

    rules = load_rules(path)

    assert rules.source == str(path)
    assert rules.positions["rules"] == (5, 8)


def test_load_rules_names_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(TOML_HEADER + "[[rules]]\npattern = 'a'\nlayer = 7\n")

    with pytest.raises(RuleFileError) as caught:
        load_rules(path)

    assert str(caught.value).startswith(f"{path}:7:1: rules[0].layer: layer id 7 is outside 0..3")


def test_load_rules_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(RuleFileError) as caught:
        load_rules(path)

    assert str(caught.value) == (
        f"{path}: cannot read the rule file: No such file or directory\n"
        "  Hint: check the path; bundled packs are listed by `grouprules list-rules`"
    )


def test_load_rules_directory(tmp_path: Path) -> None:
    folder = tmp_path / "rules.yaml"
    folder.mkdir()

    with pytest.raises(RuleFileError) as caught:
        load_rules(folder)

    assert caught.value.problems[0].message == "cannot read the rule file: Is a directory"


def test_load_rules_oversize_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(HEADER + "#" * MAX_FILE_BYTES)

    with pytest.raises(RuleFileError) as caught:
        load_rules(path)

    size = path.stat().st_size
    assert str(caught.value) == (
        f"{path}: file is {size} bytes, more than the limit of {MAX_FILE_BYTES}\n"
        f"  expected: at most {MAX_FILE_BYTES} bytes\n"
        "  Hint: rule files are a few kilobytes; check that this is the right file"
    )


def test_load_bundled_pack_by_name() -> None:
    rules = load_rules("convnext")

    assert rules.spec.name == "convnext"
    assert rules.source.endswith("convnext.yaml")


def test_invalid_utf8_located() -> None:
    problem = _only(HEADER.encode() + b"rules: [{pattern: '\xff', layer: 0}]\n")

    assert problem.format() == (
        "r.yaml:5:20: file is not valid UTF-8: byte 0xff at offset 76\n"
        "  expected: UTF-8 text\n"
        "  Hint: re-save the file as UTF-8"
    )


def test_error_lists_every_problem() -> None:
    rules = "".join(f"  - {{pattern: '(', layer: 0, name: r{index}}}\n" for index in range(60))

    with pytest.raises(RuleFileError) as caught:
        loads_rules(HEADER + "rules:\n" + rules)

    assert len(caught.value.problems) == 60
    message = str(caught.value)
    assert message.count("pattern does not compile") == 50
    assert message.endswith("... and 10 more problem(s); fix the ones above first")


def test_bare_equals_sign_is_string() -> None:
    rules = loads_rules(HEADER.replace("name: t", "name: =") + "rules: [{pattern: a, layer: 0}]\n")

    assert rules.spec.name == "="
