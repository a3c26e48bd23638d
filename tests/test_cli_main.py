"""Tests for the `grouprules` entry points: help text, exit codes, pre-commit hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import regex
import yaml

from grouprules.cli import main

_REPO_ROOT = Path(__file__).resolve().parents[1]
_COMMANDS = ("explain", "validate", "lock", "check", "diff", "schema")


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", _COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(command, capsys)
    assert text.startswith(f"usage: grouprules {command} ")
    if command != "schema":
        assert "Exit codes: 0 " in text
        assert "2 usage error" in text


@pytest.mark.parametrize("command", ("explain", "validate", "lock", "check", "diff"))
def test_decay_options_state_units(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(command, capsys)
    assert (
        "--layer-decay X per-layer lr factor in (0, 1]: layer i gets X ** (num_layers + 1 - i) "
        "of the base lr; overrides the rule file's layer_decay"
    ) in text
    assert (
        "--weight-decay Y weight decay coefficient (>= 0) of decayed parameters; overrides the "
        "rule file's weight_decay"
    ) in text
    assert "--model MODULE:FACTORY[:ARGS]" in text
    assert "--params DUMP" in text
    assert "--checkpoint CKPT" in text


@pytest.mark.parametrize(
    ("command", "argument"),
    [
        ("explain", "RULES rule file (.yaml, .yml or .toml), "),
        ("lock", "RULES rule file (.yaml, .yml or .toml), "),
        ("check", "RULES rule file (.yaml, .yml or .toml), "),
        ("diff", "OLD the rule file to compare from, "),
        ("diff", "NEW the rule file to compare to, "),
    ],
)
def test_rules_argument_names_packs(
    command: str, argument: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(command, capsys)
    assert f"{argument}or the name of a bundled pack (see `grouprules list-rules`)" in text


def test_validate_files_argument_names_packs(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("validate", capsys)
    assert (
        "FILE rule files (.yaml, .yml or .toml) to check, or names of bundled packs (see "
        "`grouprules list-rules`)"
    ) in text


def test_format_choices_described(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("validate", capsys)
    assert (
        "--format {table,json,github} output format (default: table); table: text for a "
        "terminal; json: one JSON document (see docs/cli.md); github: GitHub Actions ::error "
        "and ::warning annotations"
    ) in text
    assert "--strict treat warnings as errors, so they fail the run" in text


def test_explain_help_names_lr_and_plot(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("explain", capsys)
    assert (
        "--lr Z base learning rate, a finite number >= 0; adds each group's lr "
        "(base x lr_scale x lr_mult) to the output"
    ) in text
    assert "--plot FILE.png" in text
    assert "pip install 'grouprules[plot]'" in text


def test_no_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: grouprules" in capsys.readouterr().err


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-such-option", "x.yaml"]) == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_python_dash_m_without_mindspore_import() -> None:
    # Static validation must work where MindSpore is not installed, as in a pre-commit hook.
    script = (
        "import sys\n"
        "from grouprules.cli import main\n"
        "code = main(['validate', 'rules/convnext.yaml'])\n"
        "print('mindspore' in sys.modules, code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=_REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "False 0"

    result = subprocess.run(
        [sys.executable, "-m", "grouprules", "validate", "rules/convnext.yaml"],
        cwd=_REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "rules/convnext.yaml: ok"


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((_REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["id"] == "grouprules-validate"
    assert hook["entry"] == "grouprules validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    files = regex.compile(hook["files"])
    matched = [
        path
        for path in (
            "rules/convnext.yaml",
            "configs/rules/vit.yml",
            "rules/llama.toml",
            "rules/__init__.py",
            "myrules/x.yaml",
            "docs/rules.md",
        )
        if files.search(path)
    ]
    assert matched == ["rules/convnext.yaml", "configs/rules/vit.yml", "rules/llama.toml"]
