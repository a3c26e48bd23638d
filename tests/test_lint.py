"""Tests for grouprules.lint: static warnings on rule files written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from grouprules import load_rules
from grouprules.findings import Finding
from grouprules.lint import LINT_CODES, lint_rules

_REPO_ROOT = Path(__file__).resolve().parents[1]
_HEADER = """\
schema_version: 1
name: tiny
num_layers: 2
layer_decay: 0.5
"""


def _lint(tmp_path: Path, body: str) -> list[Finding]:
    path = tmp_path / "rules.yaml"
    path.write_text(_HEADER + body, encoding="utf-8")
    return lint_rules(load_rules(path))


def _only(findings: list[Finding], code: str) -> Finding:
    matching = [finding for finding in findings if finding.code == code]
    assert len(matching) == 1, [finding.format() for finding in findings]
    return matching[0]


@pytest.mark.parametrize("path", sorted((_REPO_ROOT / "rules").glob("*.yaml")), ids=str)
def test_bundled_packs_have_no_findings(path: Path) -> None:
    findings = lint_rules(load_rules(path))
    assert [finding.format() for finding in findings] == []


def test_start_anchor_after_text(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - pattern: 'a^b'\n    layer: 1\n  - {pattern: '.*', layer: head}\n",
    )
    finding = _only(findings, "impossible-pattern")
    assert finding.trail == "rules[0].pattern"
    assert finding.location == f"{tmp_path / 'rules.yaml'}:6:14"
    assert finding.message == (
        "pattern 'a^b' can match no parameter name: a start anchor (^ or \\A) comes after a "
        "character that must match first"
    )
    assert finding.hint == (
        "remove the misplaced anchor, or escape it (\\^ or \\$) if the name contains that character"
    )


def test_end_anchor_before_text(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "rules:\n  - {pattern: '$x', layer: 1}\n")
    finding = _only(findings, "impossible-pattern")
    assert finding.message == (
        "pattern '$x' can match no parameter name: an end anchor ($ or \\Z) comes before a "
        "character that must still match"
    )


def test_anchor_in_one_branch_is_fine(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "rules:\n  - {pattern: '(?:a^b|head\\.)', layer: 1}\n")
    assert findings == []


def test_no_decay_pattern_with_impossible_anchor(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - {pattern: '.*', layer: 1}\nno_weight_decay:\n  names: ['bias$\\.']\n",
    )
    finding = _only(findings, "impossible-pattern")
    assert finding.trail == "no_weight_decay.names[0]"


def test_identical_pattern_shadowed(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n"
        "  - {name: embed, pattern: 'embed\\.', layer: 0}\n"
        "  - {name: again, pattern: 'embed\\.', layer: 1}\n",
    )
    finding = _only(findings, "shadowed-rule")
    assert finding.trail == "rules[1].pattern"
    assert finding.message == (
        "rule again ('embed\\.') can never place a parameter: the earlier rule embed "
        "(rules[0]), pattern 'embed\\.', has the same pattern, and the first match wins"
    )
    assert finding.hint == (
        "move this rule above rules[0], or make the earlier pattern more specific"
    )


def test_literal_prefix_shadows_longer_rule(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n"
        "  - {pattern: 'backbone\\.', layer: 1}\n"
        "  - {pattern: 'backbone\\.blocks\\.(?P<i>\\d+)\\.', layer: 'i'}\n",
    )
    finding = _only(findings, "shadowed-rule")
    assert finding.trail == "rules[1].pattern"
    assert finding.message == (
        "this rule ('backbone\\.blocks\\.(?P<i>\\d+)\\.') can never place a parameter: the "
        "earlier rule rules[0], pattern 'backbone\\.', matches every name that starts with "
        "'backbone.', and the first match wins"
    )


def test_catch_all_shadows_every_later_rule(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n"
        "  - {pattern: '.*', layer: 1}\n"
        "  - {pattern: 'head\\.', layer: head}\n"
        "  - {pattern: 'embed\\.', layer: 0}\n",
    )
    shadowed = [finding for finding in findings if finding.code == "shadowed-rule"]
    assert [finding.trail for finding in shadowed] == ["rules[1].pattern", "rules[2].pattern"]
    assert shadowed[0].message == (
        "this rule ('head\\.') can never place a parameter: the earlier rule rules[0], "
        "pattern '.*', is a catch-all that matches every name, and the first match wins"
    )


def test_catch_all_last_is_fine(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - {pattern: 'head\\.', layer: head}\n  - {pattern: '.+', layer: 1}\n",
    )
    assert findings == []


def test_narrower_earlier_rule_is_fine(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n"
        "  - {pattern: 'backbone\\.blocks\\.', layer: 1}\n"
        "  - {pattern: 'backbone\\.', layer: 0}\n"
        "  - {pattern: 'head\\.weight$', layer: head}\n"
        "  - {pattern: 'head\\.', layer: head}\n",
    )
    assert findings == []


def test_layer_expression_below_zero(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "rules:\n  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i - 1'}\n")
    finding = _only(findings, "layer-out-of-range")
    assert finding.trail == "rules[0].layer"
    assert finding.location.endswith("rules.yaml:6:46")
    assert finding.message == (
        "layer expression 'i - 1' gives layer id -1 for i=0, outside 0..3 (num_layers + 1)"
    )
    assert finding.hint == "bound it, as in max(0, i - 1), or check the offset"


def test_layer_expression_above_head_for_first_block(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "rules:\n  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 4'}\n")
    finding = _only(findings, "layer-out-of-range")
    assert finding.message == (
        "layer expression 'i + 4' gives layer id 4 for i=0, outside 0..3 (num_layers + 1)"
    )
    assert finding.hint == (
        "check the offset, bound the expression, as in min(i + 4, head), or raise num_layers "
        "if the network has that many blocks"
    )


def test_bounded_capture_checked_at_every_value(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path, "rules:\n  - {pattern: 'blocks\\.(?P<i>[0-5])\\.', layer: 'i + 1'}\n"
    )
    finding = _only(findings, "layer-out-of-range")
    assert finding.message == (
        "layer expression 'i + 1' gives layer id 4 for i=3, outside 0..3 (num_layers + 1)"
    )


def test_unbounded_capture_not_checked_past_first_indices(tmp_path: Path) -> None:
    # blocks.2 and above would give ids past the head, but the file does not say they exist.
    findings = _lint(tmp_path, "rules:\n  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 2'}\n")
    assert findings == []


def test_bounded_expression_is_fine(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - {pattern: 'blocks\\.(?P<i>\\d{1,2})\\.', layer: 'min(i + 1, head)'}\n",
    )
    assert findings == []


def test_layer_expression_divides_by_zero(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path, "rules:\n  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: '3 // i'}\n"
    )
    finding = _only(findings, "layer-division-by-zero")
    assert finding.message == "layer expression '3 // i' divides by zero for i=0"
    assert finding.hint == "guard the divisor, for example with max(1, ...)"


def test_glob_with_dot_star_dot(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "rules:\n  - {pattern: 'blocks.*.weight', layer: 1}\n")
    finding = _only(findings, "glob-pattern")
    assert finding.trail == "rules[0].pattern"
    assert finding.message == (
        "pattern 'blocks.*.weight' looks like a shell glob, but patterns are regular "
        "expressions: '.' matches any character and '*' repeats the one before it"
    )
    assert finding.hint == "write the regular expression, such as 'blocks\\..*\\.weight$'"


def test_glob_with_trailing_star(tmp_path: Path) -> None:
    findings = _lint(tmp_path, "rules:\n  - {pattern: 'model.layers.*', layer: 1}\n")
    finding = _only(findings, "glob-pattern")
    assert finding.hint == "write the regular expression, such as 'model\\.layers\\.'"


def test_regex_with_dot_star_is_not_glob(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - {pattern: 'backbone\\..*\\.weight$', layer: 1}\n"
        "  - {pattern: 'a.*b', layer: 1}\n",
    )
    assert [finding.code for finding in findings] == []


def test_no_decay_bare_word(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - {pattern: '.*', layer: 1}\nno_weight_decay:\n  names: ['\\.bias$', 'bn']\n",
    )
    finding = _only(findings, "no-decay-substring")
    assert finding.trail == "no_weight_decay.names[1]"
    assert finding.location.endswith("rules.yaml:8:22")
    assert finding.message == (
        "no_weight_decay pattern 'bn' is searched anywhere in the name, so it also matches "
        "inside longer words, such as 'bn_proj.weight' or 'subbn.weight'"
    )
    assert finding.hint == (
        "anchor it to a name part, as in '(?:^|\\.)bn\\.' for a cell named bn, or '\\.bn$' "
        "for a parameter named bn"
    )


def test_no_decay_anchored_word_is_fine(tmp_path: Path) -> None:
    findings = _lint(
        tmp_path,
        "rules:\n  - {pattern: '.*', layer: 1}\n"
        "no_weight_decay:\n  names: ['(?:^|\\.)bn\\.', 'norm\\.gamma$']\n",
    )
    assert findings == []


def test_unparsable_pattern_skips_structural_checks(tmp_path: Path) -> None:
    # \p{L} is regex-only syntax; the structural checks cannot read it and stay silent.
    findings = _lint(tmp_path, "rules:\n  - {pattern: '\\p{L}+\\.', layer: 1}\n")
    assert findings == []


def test_every_code_is_listed() -> None:
    assert set(LINT_CODES) == {
        "impossible-pattern",
        "shadowed-rule",
        "layer-out-of-range",
        "layer-division-by-zero",
        "glob-pattern",
        "no-decay-substring",
    }
