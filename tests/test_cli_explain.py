"""Tests for `grouprules explain`: --verbose, --plot and the JSON rule list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from grouprules.cli import main

_RULES = """\
schema_version: 1
name: tiny
num_layers: 2
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {pattern: 'embed\\.', layer: 0}
  - {name: blocks, pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 1'}
  - {name: head, pattern: 'head\\.', layer: head, lr_mult: 2}
no_weight_decay:
  names: ['\\.bias$']
  max_rank: 1
"""

_NETWORK = """\
embed.weight (10, 4)
blocks.0.weight (4, 4)
blocks.0.bias (4,)
blocks.1.weight (4, 4)
head.weight (2, 4)
head.frozen (2,) frozen
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(_RULES, encoding="utf-8")
    (tmp_path / "net.txt").write_text(_NETWORK, encoding="utf-8")
    return tmp_path


def test_verbose_lists_rules_and_parameters(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "rules.yaml", "--params", "net.txt", "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("rule      pattern                 layer  matches")
    assert lines[start : start + 5] == [
        "rule      pattern                 layer  matches",
        "--------  ----------------------  -----  -------",
        "rules[0]  'embed\\.'               0            1",
        "blocks    'blocks\\.(?P<i>\\d+)\\.'  i + 1        3",
        "head      'head\\.'                head         1",
    ]
    start = lines.index(
        "parameter        shape  layer_id  lr_scale  weight_decay  group               "
        "layer set by  decay set by"
    )
    assert lines[start + 2 :] == [
        "embed.weight     10x4          0     0.125          0.05  layer_0_decay       "
        "rules[0]      default",
        "blocks.0.weight  4x4           1      0.25          0.05  layer_1_decay       "
        "blocks        default",
        "blocks.0.bias    4             1      0.25             0  layer_1_no_decay    "
        "blocks        no_weight_decay.names[0]",
        "blocks.1.weight  4x4           2       0.5          0.05  layer_2_decay       "
        "blocks        default",
        "head.weight      2x4           3         2          0.05  layer_3_decay_lrx2  "
        "head          default",
        "skipped: head.frozen (frozen)",
    ]


def test_without_verbose_no_parameter_rows(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "rules.yaml", "--params", "net.txt"]) == 0
    output = capsys.readouterr().out
    assert "layer_3_decay_lrx2" in output
    assert "blocks.0.bias" not in output


def test_json_lists_rule_matches(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "rules.yaml", "--params", "net.txt", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["format_version"] == 1
    assert document["rules"] == [
        {"index": 0, "name": "rules[0]", "pattern": "embed\\.", "layer": 0, "matches": 1},
        {
            "index": 1,
            "name": "blocks",
            "pattern": "blocks\\.(?P<i>\\d+)\\.",
            "layer": "i + 1",
            "matches": 3,
        },
        {"index": 2, "name": "head", "pattern": "head\\.", "layer": "head", "matches": 1},
    ]
    assert document["parameters"][2]["decay_rule"] == "no_weight_decay.names[0]"


@pytest.mark.parametrize("value", ["-1", "-1e-3", "nan", "inf", "-inf"])
def test_lr_rejects_invalid_number(
    folder: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code = main(["explain", "rules.yaml", "--params", "net.txt", f"--lr={value}"])

    assert code == 2
    assert f"argument --lr: {value} is not a finite number >= 0" in capsys.readouterr().err


def test_lr_rejects_text(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", "rules.yaml", "--params", "net.txt", "--lr", "fast"])

    assert code == 2
    assert "argument --lr: 'fast' is not a number" in capsys.readouterr().err


def test_lr_zero_accepted(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", "rules.yaml", "--params", "net.txt", "--lr", "0"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "base lr 0; smallest group lr 0 (layer 0); largest 0 (layer 3)" in lines


def test_plot_writes_png(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is the optional `plot` extra")
    code = main(["explain", "rules.yaml", "--params", "net.txt", "--plot", "layers.png"])
    assert code == 0
    assert (folder / "layers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().err.splitlines()[-1] == "wrote layers.png"


def test_plot_with_layer_gap(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is the optional `plot` extra")
    (folder / "gap.yaml").write_text(
        _RULES.replace("num_layers: 2", "num_layers: 4"), encoding="utf-8"
    )
    assert main(["explain", "gap.yaml", "--params", "net.txt", "--plot", "gap.png"]) == 0
    assert (folder / "gap.png").stat().st_size > 0
    assert "warning [layer-gap]" in capsys.readouterr().err


def test_plot_without_matplotlib(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import matplotlib...` raise ImportError.
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["explain", "rules.yaml", "--params", "net.txt", "--plot", "layers.png"])
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "error: --plot needs matplotlib, which is not installed",
        "  Hint: pip install 'grouprules[plot]'",
    ]
    assert not (folder / "layers.png").exists()


def test_plot_to_missing_folder(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is the optional `plot` extra")
    code = main(["explain", "rules.yaml", "--params", "net.txt", "--plot", "no/such/x.png"])
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: no/such/x.png: cannot write the plot: No such file or directory"
    )
