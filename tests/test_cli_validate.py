"""Tests for `grouprules validate`: every error and warning kind, in every output format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grouprules.cli import main

_REPO_ROOT = Path(__file__).resolve().parents[1]

_HEADER = "schema_version: 1\nname: tiny\nnum_layers: 2\nlayer_decay: 0.5\n"

# A network of eight parameters as a plain `name shape` dump.
_NETWORK = """\
embed.weight (10, 4)
blocks.0.weight (4, 4)
blocks.0.bias (4,)
blocks.0.norm.gamma (4, 3, 3)
blocks.1.weight (4, 4)
blocks.1.scale (4,)
head.weight (2, 4)
head.bias (2,)
"""

# Evaluated against _NETWORK, this file gives every plan warning and a failed expect block.
_EVALUATED = """\
schema_version: 1
name: tiny
num_layers: 3
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {pattern: 'embed\\.', layer: 0}
  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 1'}
  - {pattern: 'neck\\.', layer: 3}
  - {pattern: 'head\\.', layer: head}
no_weight_decay:
  names: ['\\.bias$', '\\.beta$']
expect:
  parameters: 7
"""

_STATIC_WARNINGS = (
    _HEADER + "rules:\n"
    "  - {pattern: 'embed\\.', layer: 0}\n"
    "  - {pattern: 'a^b', layer: 1}\n"
    "  - {pattern: 'embed\\.pos', layer: 0}\n"
    "  - {pattern: 'blocks.*.weight', layer: 1}\n"
    "  - {pattern: '.*', layer: head}\n"
    "no_weight_decay:\n"
    "  names: ['bn']\n"
)

_SCHEMA_ERRORS = (
    _HEADER + "rules:\n"
    "  - {pattern: '*.bias', layer: 1}\n"
    "  - {pattern: 'head\\.', layer: head, wieght_decay: false}\n"
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.txt").write_text(_NETWORK, encoding="utf-8")
    (tmp_path / "evaluated.yaml").write_text(_EVALUATED, encoding="utf-8")
    (tmp_path / "static.yaml").write_text(_STATIC_WARNINGS, encoding="utf-8")
    (tmp_path / "schema.yaml").write_text(_SCHEMA_ERRORS, encoding="utf-8")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["validate", *argv])
    return code, capsys.readouterr().out.splitlines()


def test_bundled_packs_pass(capsys: pytest.CaptureFixture[str]) -> None:
    packs = [str(path) for path in sorted((_REPO_ROOT / "rules").glob("*.yaml"))]
    code, lines = _run(capsys, "--strict", *packs)
    assert lines[: len(packs)] == [f"{pack}: ok" for pack in packs]
    assert lines[-1] == f"{len(packs)} file(s) checked: no problems"
    assert code == 0


def test_convnext_against_real_dump(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(_REPO_ROOT / "examples" / "convnext_base_params.txt")
    code, lines = _run(capsys, "--strict", "convnext", "--params", dump)
    assert lines[-1] == "1 file(s) checked: no problems"
    assert code == 0


def test_static_warnings_table(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(capsys, "static.yaml")
    assert lines == [
        "static.yaml:7:15: warning [impossible-pattern]: rules[1].pattern: pattern 'a^b' can "
        "match no parameter name: a start anchor (^ or \\A) comes after a character that must "
        "match first",
        "  Hint: remove the misplaced anchor, or escape it (\\^ or \\$) if the name contains "
        "that character",
        "static.yaml:8:15: warning [shadowed-rule]: rules[2].pattern: this rule ('embed\\.pos') "
        "can never place a parameter: the earlier rule rules[0], pattern 'embed\\.', matches "
        "every name that starts with 'embed.', and the first match wins",
        "  Hint: move this rule above rules[0], or make the earlier pattern more specific",
        "static.yaml:9:15: warning [glob-pattern]: rules[3].pattern: pattern 'blocks.*.weight' "
        "looks like a shell glob, but patterns are regular expressions: '.' matches any "
        "character and '*' repeats the one before it",
        "  Hint: write the regular expression, such as 'blocks\\..*\\.weight$'",
        "static.yaml:12:11: warning [no-decay-substring]: no_weight_decay.names[0]: "
        "no_weight_decay pattern 'bn' is searched anywhere in the name, so it also matches "
        "inside longer words, such as 'bn_proj.weight' or 'subbn.weight'",
        "  Hint: anchor it to a name part, as in '(?:^|\\.)bn\\.' for a cell named bn, or "
        "'\\.bn$' for a parameter named bn",
        "",
        "1 file(s) checked, 0 failed: 0 error(s), 4 warning(s)",
    ]
    assert code == 0


def test_strict_turns_warnings_into_errors(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(capsys, "--strict", "static.yaml")
    assert lines[0].startswith("static.yaml:7:15: error [impossible-pattern]: ")
    assert lines[-1] == "1 file(s) checked, 1 failed: 4 error(s), 0 warning(s)"
    assert code == 1


def test_schema_errors_all_reported(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(capsys, "schema.yaml")
    assert lines[0] == (
        "schema.yaml:6:15: error [glob-pattern]: rules[0].pattern: pattern does not compile: "
        "nothing to repeat at position 0"
    )
    assert lines[1] == "  value: '*.bias'"
    assert lines[3] == "  Hint: patterns are regular expressions, not globs: write '.*\\.bias$'"
    assert lines[4] == (
        "schema.yaml:7:38: error [invalid-rule-file]: rules[1].wieght_decay: unknown key "
        "'wieght_decay'"
    )
    assert "  Hint: did you mean 'weight_decay'?" in lines
    assert lines[-1] == "1 file(s) checked, 1 failed: 2 error(s), 0 warning(s)"
    assert code == 1


def test_every_file_checked_after_failure(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "good.yaml").write_text(
        _HEADER + "rules:\n  - {pattern: 'head\\.', layer: head}\n", encoding="utf-8"
    )
    (folder / "broken.toml").write_text("schema_version = 1\nname = \n", encoding="utf-8")
    code, lines = _run(capsys, "schema.yaml", "broken.toml", "good.yaml", "missing.yaml")
    located = [line.split(": ")[0] for line in lines if not line.startswith(" ")]
    assert "schema.yaml:6:15" in located
    assert any(location.startswith("broken.toml:2") for location in located)
    assert "good.yaml" in located
    assert "missing.yaml" in located
    assert lines[-1].startswith("4 file(s) checked, 3 failed: ")
    assert code == 1


def test_evaluation_findings_with_params(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(capsys, "evaluated.yaml", "--params", "net.txt")
    headlines = [line for line in lines if line.startswith("evaluated.yaml")]
    assert headlines == [
        "evaluated.yaml:3:13: warning [layer-gap]: num_layers: layer id(s) 3 hold no trainable "
        "parameter between used ids 0 and 4, so the layers above skip a decay step",
        "evaluated.yaml:9:5: warning [unused-rule]: rules[2]: rule rules[2] ('neck\\.') "
        "places no parameter",
        "evaluated.yaml:12:22: warning [unused-no-decay-pattern]: no_weight_decay.names[1]: "
        "no_weight_decay pattern '\\.beta$' matches no trainable parameter",
        "evaluated.yaml:12:3: warning [decayed-low-rank]: no_weight_decay: 1 parameter(s) of "
        "rank 0 or 1 still get weight decay",
        "evaluated.yaml:12:3: warning [decayed-norm]: no_weight_decay: 1 norm parameter(s) "
        "still get weight decay",
        "evaluated.yaml:14:15: error [expect-failed]: expect.parameters is 7, but the plan has 8",
    ]
    low_rank = lines.index(headlines[3])
    assert lines[low_rank + 1] == "  blocks.1.scale"
    norm = lines.index(headlines[4])
    assert lines[norm + 1] == "  blocks.0.norm.gamma"
    assert lines[-1] == "1 file(s) checked, 1 failed: 1 error(s), 5 warning(s)"
    assert code == 1


def test_unmatched_parameters(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "unmatched.yaml").write_text(
        _HEADER + "rules:\n"
        "  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 1'}\n"
        "  - {pattern: 'head\\.', layer: head}\n",
        encoding="utf-8",
    )
    code, lines = _run(capsys, "unmatched.yaml", "--params", "net.txt")
    assert lines[:4] == [
        "unmatched.yaml:6:3: error [unmatched-parameters]: rules: 1 trainable parameter(s) "
        "matched no rule",
        "  embed.weight",
        "  Hint: add a rule whose pattern matches these names, or add an explicit catch-all "
        "rule (pattern: '.*') as the last rule if they belong at one layer",
        "",
    ]
    assert code == 1


def test_layer_out_of_range_at_evaluation(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "deep.yaml").write_text(
        _HEADER.replace("num_layers: 2", "num_layers: 1") + "rules:\n"
        "  - {pattern: 'embed\\.', layer: 0}\n"
        "  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 2'}\n"
        "  - {pattern: 'head\\.', layer: head}\n",
        encoding="utf-8",
    )
    code, lines = _run(capsys, "deep.yaml", "--params", "net.txt")
    assert lines[0].startswith("deep.yaml:7:46: warning [layer-out-of-range]: ")
    assert lines[2] == (
        "deep.yaml:7:46: error [rule-evaluation-failed]: rules[1].layer: 'i + 2' gives layer "
        "id 3 for parameter 'blocks.1.weight', outside 0..2"
    )
    assert (
        lines[3] == "  Hint: raise num_layers or bound the expression, for example min(i + 2, head)"
    )
    assert code == 1


def test_unreadable_input_keeps_static_checks(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(capsys, "evaluated.yaml", "--params", "missing.txt")
    assert lines[0].startswith("grouprules: error [invalid-input]: missing.txt: ")
    assert lines[1] == (
        "evaluated.yaml: ok (static checks only: the network input could not be read)"
    )
    assert code == 1


def test_github_annotations(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(capsys, "--format", "github", "static.yaml", "schema.yaml")
    assert lines == [
        "::warning file=static.yaml,line=7,col=15,title=grouprules impossible-pattern::"
        "rules[1].pattern: pattern 'a^b' can match no parameter name: a start anchor "
        "(^ or \\A) comes after a character that must match first%0AHint: remove the misplaced "
        "anchor, or escape it (\\^ or \\$) if the name contains that character",
        "::warning file=static.yaml,line=8,col=15,title=grouprules shadowed-rule::"
        "rules[2].pattern: this rule ('embed\\.pos') can never place a parameter: the earlier "
        "rule rules[0], pattern 'embed\\.', matches every name that starts with 'embed.', and "
        "the first match wins%0AHint: move this rule above rules[0], or make the earlier pattern "
        "more specific",
        "::warning file=static.yaml,line=9,col=15,title=grouprules glob-pattern::"
        "rules[3].pattern: pattern 'blocks.*.weight' looks like a shell glob, but patterns are "
        "regular expressions: '.' matches any character and '*' repeats the one before it"
        "%0AHint: write the regular expression, such as 'blocks\\..*\\.weight$'",
        "::warning file=static.yaml,line=12,col=11,title=grouprules no-decay-substring::"
        "no_weight_decay.names[0]: no_weight_decay pattern 'bn' is searched anywhere in the "
        "name, so it also matches inside longer words, such as 'bn_proj.weight' or "
        "'subbn.weight'%0AHint: anchor it to a name part, as in '(?:^|\\.)bn\\.' for a cell "
        "named bn, or '\\.bn$' for a parameter named bn",
        "::error file=schema.yaml,line=6,col=15,title=grouprules glob-pattern::"
        "rules[0].pattern: pattern does not compile: nothing to repeat at position 0"
        "%0Avalue: '*.bias'%0Aexpected: a regular expression in the syntax of the `regex` "
        "package%0AHint: patterns are regular expressions, not globs: write '.*\\.bias$'",
        "::error file=schema.yaml,line=7,col=38,title=grouprules invalid-rule-file::"
        "rules[1].wieght_decay: unknown key 'wieght_decay'%0Avalue: false%0Aexpected: one of: "
        "pattern, layer, name, description, weight_decay, lr_mult, wd_mult%0AHint: did you "
        "mean 'weight_decay'?",
        "grouprules validate: 2 file(s) checked, 1 failed: 2 error(s), 4 warning(s)",
    ]
    assert code == 1


def test_github_escapes_percent_and_names(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "100%.yaml").write_text(_STATIC_WARNINGS, encoding="utf-8")
    code, lines = _run(
        capsys, "--format", "github", "100%.yaml", "evaluated.yaml", "--params", "net.txt"
    )
    assert lines[0].startswith("::warning file=100%25.yaml,line=7,col=15,")
    low_rank = [line for line in lines if "decayed-low-rank" in line]
    assert low_rank == [
        "::warning file=evaluated.yaml,line=12,col=3,title=grouprules decayed-low-rank::"
        "no_weight_decay: 1 parameter(s) of rank 0 or 1 still get weight decay%0A"
        "blocks.1.scale%0AHint: biases and norm scales are usually exempt; add max_rank: 1 or a "
        "name pattern"
    ]
    assert code == 1


def test_json_document(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--format", "json", "evaluated.yaml", "--params", "net.txt"])
    document = json.loads(capsys.readouterr().out)

    assert code == 1
    assert document["format_version"] == 1
    assert document["command"] == "validate"
    assert document["ok"] is False
    assert document["strict"] is False
    assert document["input"] == "--params net.txt"
    assert document["summary"] == {
        "files": 1,
        "failed": 1,
        "errors": 1,
        "warnings": 5,
        "input_errors": 0,
    }
    assert document["diagnostics"] == []

    (report,) = document["files"]
    assert (report["path"], report["ok"], report["errors"], report["warnings"]) == (
        "evaluated.yaml",
        False,
        1,
        5,
    )

    assert report["diagnostics"][-1] == {
        "severity": "error",
        "code": "expect-failed",
        "message": "expect.parameters is 7, but the plan has 8",
        "file": "evaluated.yaml",
        "line": 14,
        "column": 15,
        "trail": "",
        "value": None,
        "expected": None,
        "hint": "the network's parameter names may have changed; run `grouprules explain` to "
        "see the groups, then fix the rules or the expect block; for another configuration "
        "of the same architecture, pass --no-expect",
        "names": [],
    }


def test_no_files_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 2
    assert "the following arguments are required: FILE" in capsys.readouterr().err


def test_bad_layer_decay_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "x.yaml", "--layer-decay", "1.5"]) == 2
    assert "argument --layer-decay: 1.5 is outside (0, 1]" in capsys.readouterr().err


_WRONG_VALUES = """\
schema_version: 1
name: tiny
num_layers: 2.5
layer_decay: .inf
rules:
  - {pattern: 'blocks\\.(?P<i>\\d+\\.', layer: 1}
  - {pattern: 'head\\.', layer: head, weight_decay: 'it''s'}
  - {pattern: 'x', layer: [1, 'a\\.']}
"""


def test_values_written_as_yaml(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "values.yaml").write_text(_WRONG_VALUES, encoding="utf-8")

    code, lines = _run(capsys, "values.yaml")

    values = [line for line in lines if line.startswith("  value: ")]
    assert values == [
        "  value: 2.5",
        "  value: .inf",
        "  value: 'blocks\\.(?P<i>\\d+\\.'",
        "  value: 'it''s'",
        "  value: [1, 'a\\.']",
    ]
    assert code == 1


def test_json_values_are_raw(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "values.yaml").write_text(_WRONG_VALUES, encoding="utf-8")

    code = main(["validate", "--format", "json", "values.yaml"])
    document = json.loads(capsys.readouterr().out)

    (report,) = document["files"]
    values = [item["value"] for item in report["diagnostics"]]
    assert values == [2.5, ".inf", "blocks\\.(?P<i>\\d+\\.", "it's", [1, "a\\."]]
    assert code == 1


def test_unreadable_input_summary(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(capsys, "evaluated.yaml", "--params", "missing.txt")
    assert lines[-1] == (
        "1 file(s) checked, 0 failed, and the network input could not be read: 1 error(s), "
        "0 warning(s)"
    )
    assert code == 1

    code, lines = _run(capsys, "evaluated.yaml", "--params", "missing.txt", "--format", "github")
    assert lines[-1] == (
        "grouprules validate: 1 file(s) checked, 0 failed, and the network input could not be "
        "read: 1 error(s), 0 warning(s)"
    )
    assert code == 1

    code = main(["validate", "--format", "json", "evaluated.yaml", "--params", "missing.txt"])
    document = json.loads(capsys.readouterr().out)
    assert document["summary"] == {
        "files": 1,
        "failed": 0,
        "errors": 1,
        "warnings": 0,
        "input_errors": 1,
    }
    assert document["ok"] is False
    assert code == 1
