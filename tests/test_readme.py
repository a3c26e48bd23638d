"""The README's commands, and the official ConvNeXt-Base assignment through `explain`."""

import json
import re
from pathlib import Path

import pytest

from grouprules.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "examples" / "convnext_base_params.txt"


def _bash_blocks(path: Path) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", path.read_text(encoding="utf-8"), re.S)


def official_convnext_layer_id(name: str) -> int:
    """The official 12-group ConvNeXt assignment, written from its definition."""
    if name.startswith("backbone.start_cell."):
        return 0
    if name.startswith("backbone.block1."):
        return 1
    parts = name.split(".")
    if parts[:2] == ["backbone", "down_sample_blocks"]:
        stage_cell = int(parts[2])
        if stage_cell in (0, 1):
            return 2
        if stage_cell == 2:
            return 3
        if stage_cell == 3:
            return 3 + int(parts[3]) // 3
        return 12
    return 13


def official_convnext_decay(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last not in ("bias", "beta", "gamma")


def test_readmes_share_commands():
    english = _bash_blocks(ROOT / "README.md")
    chinese = _bash_blocks(ROOT / "README.zh-CN.md")
    assert len(english) == 2
    assert english == chinese


def test_ci_runs_readme_test_command():
    test_command = _bash_blocks(ROOT / "README.md")[1].strip()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def _explain_json(capsys, *input_args):
    code = main(
        [
            "explain",
            str(ROOT / "rules" / "convnext.yaml"),
            *input_args,
            "--layer-decay",
            "0.8",
            "--weight-decay",
            "1e-5",
            "--format",
            "json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_explain_fixture_matches_official_recipe(capsys):
    document = _explain_json(capsys, "--params", str(FIXTURE))
    parameters = document["parameters"]
    assert len(parameters) == 304
    assert len({item["layer_id"] for item in parameters}) == 14
    assert len(document["groups"]) == 28
    for item in parameters:
        layer_id = official_convnext_layer_id(item["name"])
        assert item["layer_id"] == layer_id, item["name"]
        assert item["lr_scale"] == pytest.approx(0.8 ** (13 - layer_id), rel=1e-12)
        expected_decay = 1e-5 if official_convnext_decay(item["name"]) else 0.0
        assert item["weight_decay"] == expected_decay, item["name"]
        assert item["group"] == (f"layer_{layer_id}_{'decay' if expected_decay else 'no_decay'}")


def test_explain_live_model_equals_fixture(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    from_dump = _explain_json(capsys, "--params", str(FIXTURE))
    from_model = _explain_json(capsys, "--model", "examples.convnext:convnext_base")
    assert from_model["parameters"] == from_dump["parameters"]
    assert from_model["groups"] == from_dump["groups"]
