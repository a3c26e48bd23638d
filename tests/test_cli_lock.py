"""Tests for `grouprules lock`, `check` and `diff` on the bundled ConvNeXt rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from grouprules.cli import main

_REPO_ROOT = Path(__file__).resolve().parents[1]
_CONVNEXT = _REPO_ROOT / "rules" / "convnext.yaml"
_BASE_DUMP = str(_REPO_ROOT / "examples" / "convnext_base_params.txt")
_EXPECT_BLOCK = "expect:\n  parameters: 304\n  layer_ids: 14\n  groups: 28\n"
_STAGE1 = "    pattern: 'backbone\\.block1\\.'\n    layer: 1\n"


def _convnext_copy(folder: Path, name: str, *, stage1_layer: int = 1) -> str:
    """Write the bundled ConvNeXt rules without the ConvNeXt-Base expect block."""
    text = _CONVNEXT.read_text(encoding="utf-8")
    assert _EXPECT_BLOCK in text
    assert _STAGE1 in text
    text = text.replace(_EXPECT_BLOCK, "")
    text = text.replace(_STAGE1, _STAGE1.replace("layer: 1", f"layer: {stage1_layer}"))
    (folder / name).write_text(text, encoding="utf-8")
    return name


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_lock_then_check_passes(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "lock", str(_CONVNEXT), "--params", _BASE_DUMP, "-o", "grouprules.lock"
    )
    assert code == 0
    assert err[-1].startswith(
        "wrote grouprules.lock: 304 parameters in 28 groups, 0 skipped, fingerprint sha256:"
    )
    lock = json.loads((folder / "grouprules.lock").read_text(encoding="utf-8"))
    assert lock["rules"] == str(_CONVNEXT)
    assert (lock["num_layers"], lock["layer_decay"], lock["weight_decay"]) == (12, 0.8, 1e-05)
    assert lock["parameters"]["head.dense.weight"]["group"] == "layer_13_decay"

    code, out, _ = _run(
        capsys, "check", str(_CONVNEXT), "--params", _BASE_DUMP, "--lock", "grouprules.lock"
    )
    assert out == ["grouprules check: the grouping of 304 parameters matches grouprules.lock"]
    assert code == 0


def test_check_fails_after_rule_change(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _convnext_copy(folder, "before.yaml")
    after = _convnext_copy(folder, "after.yaml", stage1_layer=2)
    assert main(["lock", before, "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    capsys.readouterr()

    code, out, _ = _run(capsys, "check", after, "--params", _BASE_DUMP, "--lock", "grouprules.lock")
    assert code == 1
    assert out[0] == "the grouping differs: 24 parameter(s) moved, 0 added, 0 removed"
    assert out[1].startswith("  old: grouprules.lock (rules before.yaml, sha256:")
    assert out[2].startswith("  new: after.yaml (sha256:")
    assert out[4] == "moved (24):"
    assert out[5] == (
        "  backbone.block1.0.gamma: layer_id 1 -> 2, lr_scale 0.0687195 -> 0.0858993, "
        "group layer_1_no_decay -> layer_2_no_decay"
    )
    assert out[6] == (
        "  backbone.block1.0.dwconv.weight: layer_id 1 -> 2, lr_scale 0.0687195 -> 0.0858993, "
        "group layer_1_decay -> layer_2_decay"
    )
    assert all(line.startswith("  backbone.block1.") for line in out[5:29])
    assert out[-1] == (
        "grouprules check: the grouping differs from grouprules.lock. If the change is "
        "intended, write the lock file again: grouprules lock after.yaml --params "
        f"{_BASE_DUMP} -o grouprules.lock"
    )


def test_check_github_annotations(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _convnext_copy(folder, "before.yaml")
    after = _convnext_copy(folder, "after.yaml", stage1_layer=2)
    assert main(["lock", before, "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    capsys.readouterr()

    argv = ["check", after, "--params", _BASE_DUMP, "--lock", "grouprules.lock"]
    code, out, _ = _run(capsys, *argv, "--format", "github")
    assert code == 1
    assert len(out) == 25
    # The lock file has nine header lines, so the first stage-1 parameter is on line 13.
    assert out[0] == (
        "::error file=grouprules.lock,line=13,title=grouprules parameter-moved::"
        "backbone.block1.0.gamma moved: layer_id 1 -> 2, lr_scale 0.0687195 -> 0.0858993, "
        "group layer_1_no_decay -> layer_2_no_decay"
    )
    assert out[23] == (
        "::error file=grouprules.lock,line=36,title=grouprules parameter-moved::"
        "backbone.block1.2.pwconv2.bias moved: layer_id 1 -> 2, lr_scale 0.0687195 -> "
        "0.0858993, group layer_1_no_decay -> layer_2_no_decay"
    )
    lock_lines = (folder / "grouprules.lock").read_text(encoding="utf-8").splitlines()
    assert lock_lines[12].startswith('    "backbone.block1.0.gamma": ')
    assert lock_lines[35].startswith('    "backbone.block1.2.pwconv2.bias": ')
    assert out[24].startswith("grouprules check: the grouping differs from grouprules.lock.")


def test_check_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _convnext_copy(folder, "before.yaml")
    after = _convnext_copy(folder, "after.yaml", stage1_layer=2)
    assert main(["lock", before, "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    capsys.readouterr()

    argv = ["check", after, "--params", _BASE_DUMP, "--lock", "grouprules.lock"]
    code, out, _ = _run(capsys, *argv, "--format", "json")
    document = json.loads("\n".join(out))
    assert code == 1
    assert (document["format_version"], document["command"], document["ok"]) == (1, "check", False)
    assert document["diff"]["moved"][0] == {
        "name": "backbone.block1.0.gamma",
        "changes": {
            "layer_id": [1, 2],
            "lr_scale": [0.06871947673600004, 0.08589934592000005],
            "group": ["layer_1_no_decay", "layer_2_no_decay"],
        },
    }
    assert len(document["diff"]["moved"]) == 24
    assert document["diagnostics"] == []


def test_check_reports_setting_override(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", str(_CONVNEXT), "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    capsys.readouterr()
    argv = ["check", str(_CONVNEXT), "--params", _BASE_DUMP, "--lock", "grouprules.lock"]
    code, out, _ = _run(capsys, *argv, "--layer-decay", "0.75")
    assert code == 1
    assert out[0] == "the grouping differs: 300 parameter(s) moved, 0 added, 0 removed"
    assert out[4:6] == ["settings:", "  layer_decay: 0.8 -> 0.75"]


def test_check_rejects_edited_lock(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", str(_CONVNEXT), "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    lock = folder / "grouprules.lock"
    lock.write_text(
        lock.read_text(encoding="utf-8").replace('"layer_id": 13', '"layer_id": 12'),
        encoding="utf-8",
    )
    capsys.readouterr()
    argv = ["check", str(_CONVNEXT), "--params", _BASE_DUMP, "--lock", "grouprules.lock"]
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert out == []
    assert err[0].startswith("grouprules: error [invalid-lock-file]: grouprules.lock: ")
    assert err[-3:] == [
        "  Hint: regenerate it with `grouprules lock` instead of editing it.",
        "",
        "grouprules check: failed with 1 error(s) before comparing the grouping with "
        "grouprules.lock",
    ]

    code, out, _ = _run(capsys, *argv, "--format", "github")
    assert code == 1
    assert out[0].startswith("::error title=grouprules invalid-lock-file::grouprules.lock: ")
    assert out[1:] == [
        "grouprules check: failed with 1 error(s) before comparing the grouping with "
        "grouprules.lock"
    ]


def test_check_invalid_rule_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", str(_CONVNEXT), "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    (folder / "bad.yaml").write_text("schema_version: 1\nname: x\n", encoding="utf-8")
    capsys.readouterr()
    argv = ["check", "bad.yaml", "--params", _BASE_DUMP, "--lock", "grouprules.lock"]
    code, out, _ = _run(capsys, *argv, "--format", "github")
    assert code == 1
    assert out[0].startswith("::error file=bad.yaml,line=")
    assert "title=grouprules invalid-rule-file::" in out[0]


def test_check_github_summary_after_early_failure(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lock", str(_CONVNEXT), "--params", _BASE_DUMP, "-o", "grouprules.lock"]) == 0
    (folder / "small.txt").write_text("head.dense.weight (10, 128)\n", encoding="utf-8")
    (folder / "odd.txt").write_text("mystery.weight (2, 2)\n", encoding="utf-8")
    capsys.readouterr()
    argv = ["check", str(_CONVNEXT), "--lock", "grouprules.lock", "--format", "github"]

    code, out, _ = _run(capsys, *argv, "--params", "small.txt")
    assert code == 1
    assert len(out) == 4
    for line in out[:3]:
        assert line.startswith(f"::error file={_CONVNEXT},line=")
        assert ",title=grouprules expect-failed::expect." in line
    assert out[-1] == (
        "grouprules check: failed with 3 error(s) before comparing the grouping with "
        "grouprules.lock"
    )

    code, out, _ = _run(capsys, *argv, "--params", "odd.txt", "--no-expect")
    assert code == 1
    assert "title=grouprules unmatched-parameters::" in out[0]
    assert out[1:] == [
        "grouprules check: failed with 1 error(s) before comparing the grouping with "
        "grouprules.lock"
    ]


def test_diff_error_form(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "bad.yaml").write_text("schema_version: 1\nname: x\n", encoding="utf-8")

    code, out, err = _run(capsys, "diff", str(_CONVNEXT), "bad.yaml", "--params", _BASE_DUMP)

    assert code == 1
    assert out == []
    assert err[0] == "error: bad.yaml:1:1: num_layers: required key 'num_layers' is missing"


def test_lock_to_stdout(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lock", str(_CONVNEXT), "--params", _BASE_DUMP)
    assert code == 0
    assert json.loads("\n".join(out))["fingerprint"].startswith("sha256:")
    assert len(out) == 9 + 304 + 3


def test_lock_refuses_failed_expect(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "small.txt").write_text("head.dense.weight (10, 128)\n", encoding="utf-8")
    code, _, err = _run(capsys, "lock", str(_CONVNEXT), "--params", "small.txt", "-o", "x.lock")
    assert code == 1
    assert err[0] == (f"error: {_CONVNEXT}: the plan does not meet the rule file's expect block:")
    assert not (folder / "x.lock").exists()


def test_diff_two_rule_files(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _convnext_copy(folder, "before.yaml")
    after = _convnext_copy(folder, "after.yaml", stage1_layer=2)

    code, out, _ = _run(capsys, "diff", before, after, "--params", _BASE_DUMP)
    assert code == 1
    assert out[0] == "the grouping differs: 24 parameter(s) moved, 0 added, 0 removed"
    assert out[1].startswith("  old: before.yaml (sha256:")
    assert out[5] == (
        "  backbone.block1.0.gamma: layer_id 1 -> 2, lr_scale 0.0687195 -> 0.0858993, "
        "group layer_1_no_decay -> layer_2_no_decay"
    )

    code, out, _ = _run(capsys, "diff", before, str(_CONVNEXT), "--params", _BASE_DUMP)
    assert code == 0
    assert out[0].startswith(
        f"before.yaml and {_CONVNEXT} give the same grouping of 304 parameters (sha256:"
    )

    code, out, _ = _run(capsys, "diff", before, after, "--params", _BASE_DUMP, "--format", "json")
    document = json.loads("\n".join(out))
    assert (document["command"], document["same"]) == ("diff", False)
    assert len(document["diff"]["moved"]) == 24


def _write_small_convnext_dump(path: Path) -> None:
    from examples.convnext import convnext_small_cpu

    lines = [str(parameter) for parameter in convnext_small_cpu().get_parameters()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_params_model_and_checkpoint_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mindspore

    from examples.convnext import convnext_small_cpu

    # --model imports from the current folder, so run from the repository root.
    monkeypatch.chdir(_REPO_ROOT)
    rules = _convnext_copy(tmp_path, "convnext_small.yaml")
    rules_path = str(tmp_path / rules)
    dump = tmp_path / "small_params.txt"
    _write_small_convnext_dump(dump)
    checkpoint = tmp_path / "small.ckpt"
    mindspore.save_checkpoint(convnext_small_cpu(), str(checkpoint))
    lock = str(tmp_path / "grouprules.lock")

    assert main(["lock", rules_path, "--params", str(dump), "-o", lock]) == 0
    model = "examples.convnext:convnext_small_cpu:num_classes=10"
    assert main(["check", rules_path, "--model", model, "--lock", lock]) == 0
    assert main(["check", rules_path, "--checkpoint", str(checkpoint), "--lock", lock]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"grouprules check: the grouping of 64 parameters matches {lock}",
        f"grouprules check: the grouping of 64 parameters matches {lock}",
    ]

    broken = _convnext_copy(tmp_path, "broken.yaml", stage1_layer=2)
    code = main(["check", str(tmp_path / broken), "--model", model, "--lock", lock])
    assert code == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "the grouping differs: 8 parameter(s) moved, 0 added, 0 removed"
    assert out[5].startswith("  backbone.block1.0.gamma: layer_id 1 -> 2, ")


_NETWORK_MODULE = """\
from mindspore import nn


class Net(nn.Cell):
    def __init__(self):
        super().__init__()
        self.embed = nn.Dense(4, 8)
        self.{blocks} = nn.SequentialCell([nn.Dense(8, 8), nn.Dense(8, 8)])
        self.head = nn.Dense(8, 2)


def build():
    return Net()
"""

_NETWORK_RULES = """\
schema_version: 1
name: net
num_layers: 2
layer_decay: 0.5
weight_decay: 0.05
rules:
  - {pattern: 'embed\\.', layer: 0}
  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 1'}
  - {pattern: '.*', layer: head}
no_weight_decay: {max_rank: 1}
"""


def test_renamed_module_fails_check(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "net_before.py").write_text(_NETWORK_MODULE.format(blocks="blocks"), "utf-8")
    (folder / "net_after.py").write_text(_NETWORK_MODULE.format(blocks="layers"), "utf-8")
    (folder / "net.yaml").write_text(_NETWORK_RULES, encoding="utf-8")
    for name in ("net_before", "net_after"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    assert main(["lock", "net.yaml", "--model", "net_before:build", "-o", "net.lock"]) == 0
    capsys.readouterr()
    code, out, _ = _run(
        capsys, "check", "net.yaml", "--model", "net_after:build", "--lock", "net.lock"
    )
    assert code == 1
    assert out[0] == "the grouping differs: 0 parameter(s) moved, 4 added, 4 removed"
    assert out[4:9] == [
        "added (4):",
        "  layers.0.weight: layer_id 3, lr_scale 1, lr_mult 1, weight_decay 0.05, "
        "group layer_3_decay",
        "  layers.0.bias: layer_id 3, lr_scale 1, lr_mult 1, weight_decay 0, "
        "group layer_3_no_decay",
        "  layers.1.weight: layer_id 3, lr_scale 1, lr_mult 1, weight_decay 0.05, "
        "group layer_3_decay",
        "  layers.1.bias: layer_id 3, lr_scale 1, lr_mult 1, weight_decay 0, "
        "group layer_3_no_decay",
    ]
    assert out[10:12] == [
        "removed (4):",
        "  blocks.0.weight: layer_id 1, lr_scale 0.25, lr_mult 1, weight_decay 0.05, "
        "group layer_1_decay",
    ]


def test_model_factory_error(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "net.yaml").write_text(_NETWORK_RULES, encoding="utf-8")
    (folder / "net_broken.py").write_text("def build():\n    raise RuntimeError('no')\n", "utf-8")
    code, _, err = _run(capsys, "lock", "net.yaml", "--model", "net_broken:build")
    assert code == 1
    assert err == [
        "error: --model net_broken:build: build() raised RuntimeError: no",
        "  Hint: check the factory arguments after the second colon.",
    ]
