"""Bundled rule packs: lookup by name, metadata, the list-rules command and the wheel."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grouprules import RuleFileError, list_packs, load_rules, rules_path
from grouprules.cli import main
from grouprules.packs import resolve_rules

ROOT = Path(__file__).resolve().parents[1]
DUMP = ROOT / "examples" / "convnext_base_params.txt"

PACKS = [
    "convnext",
    "convnext_mindcv",
    "convnext_single",
    "convnext_single_mindcv",
    "convnextv2_mindcv",
    "llama",
    "resnet_mindcv",
    "swin_mindcv",
    "vit_mindcv",
]
# The packs of this section, each checked for full metadata and an expect block.
DOCUMENTED_PACKS = [pack for pack in PACKS if pack != "convnext"]

# Names no pack targets: a rule matching one of them would be a catch-all.
FOREIGN_NAMES = ["unrelated.weight", "decoder.blocks.0.weight", "x", "lm_head_extra.bias"]


def test_list_packs_returns_every_pack() -> None:
    assert list_packs() == PACKS


def test_rules_path_finds_pack_file() -> None:
    path = rules_path("vit_mindcv")
    assert path.name == "vit_mindcv.yaml"
    assert path.is_file()


def test_rules_path_rejects_unknown_name() -> None:
    with pytest.raises(RuleFileError) as excinfo:
        rules_path("vit_huge")
    assert str(excinfo.value) == (
        f"{rules_path('vit_mindcv').parent}: no bundled rule pack is named 'vit_huge'\n"
        "  expected: one of: " + ", ".join(PACKS) + "\n"
        "  Hint: run `grouprules list-rules` to list the packs, or give the path of a rule file"
    )


def test_resolve_rules_prefers_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file named like a pack in the working folder wins over the pack.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llama").write_text("schema_version: 1\n", encoding="utf-8")
    assert resolve_rules("llama") == Path("llama")


def test_resolve_rules_finds_pack_by_name() -> None:
    assert resolve_rules("swin_mindcv") == rules_path("swin_mindcv")


def test_resolve_rules_keeps_paths_with_suffix() -> None:
    assert resolve_rules("missing.yaml") == Path("missing.yaml")
    assert resolve_rules("configs/swin_mindcv") == Path("configs/swin_mindcv")


def test_resolve_rules_rejects_unknown_name() -> None:
    with pytest.raises(RuleFileError) as excinfo:
        resolve_rules("vit_huge")
    assert str(excinfo.value) == (
        "vit_huge: 'vit_huge' is neither a rule file nor the name of a bundled rule pack\n"
        "  expected: a .yaml, .yml or .toml rule file, or one of the packs: "
        + ", ".join(PACKS)
        + "\n"
        "  Hint: give the rule file's path with its suffix, or run `grouprules list-rules` "
        "to list the packs"
    )


@pytest.mark.parametrize("pack", PACKS)
def test_load_rules_by_pack_name(pack: str) -> None:
    rules = load_rules(pack)
    assert rules.source == str(rules_path(pack))
    assert rules.spec.name == pack


@pytest.mark.parametrize("pack", DOCUMENTED_PACKS)
def test_pack_names_architecture_naming_and_sources(pack: str) -> None:
    spec = load_rules(pack).spec
    assert spec.architecture
    assert spec.naming
    assert spec.description
    assert spec.references
    assert all(reference.startswith("https://") for reference in spec.references)


@pytest.mark.parametrize("pack", DOCUMENTED_PACKS)
def test_pack_has_full_expect_block(pack: str) -> None:
    expect = load_rules(pack).spec.expect
    assert expect is not None
    assert None not in (
        expect.parameters,
        expect.layer_ids,
        expect.groups,
        expect.no_weight_decay,
    )


@pytest.mark.parametrize("pack", DOCUMENTED_PACKS)
def test_pack_has_no_catch_all_rule(pack: str) -> None:
    rules = load_rules(pack)
    catching = [
        (rule.label, name)
        for rule in rules.rules
        for name in FOREIGN_NAMES
        if rule.compiled.match(name) is not None
    ]
    assert catching == []


@pytest.mark.parametrize("pack", DOCUMENTED_PACKS)
def test_pack_has_doc_page(pack: str) -> None:
    page = ROOT / "docs" / "rules" / f"{pack}.md"
    assert page.is_file()
    assert f"grouprules explain rules/{pack}.yaml" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("pack", PACKS)
def test_pack_passes_static_validation(pack: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--strict", pack])
    output = capsys.readouterr().out
    assert code == 0, output
    assert output == f"{pack}: ok\n\n1 file(s) checked: no problems\n"


def test_list_rules_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-rules"]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].split() == ["name", "architecture", "file"]
    assert len(lines) == 2 + len(PACKS)
    vit = next(line for line in lines if line.startswith("vit_mindcv "))
    assert vit.split()[-1] == str(rules_path("vit_mindcv"))
    assert " ViT " in vit
    llama = next(line for line in lines if line.startswith("llama "))
    assert "LLaMA (decoder-only transformer)" in llama


def test_list_rules_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-rules", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)

    assert [entry["name"] for entry in entries] == PACKS
    swin = entries[PACKS.index("swin_mindcv")]
    assert swin["architecture"] == "Swin Transformer"
    assert swin["file"] == str(rules_path("swin_mindcv"))
    assert swin["naming"].startswith("MindCV 0.3.0 SwinTransformer (swin_tiny)")


def test_explain_accepts_pack_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "convnext_single", "--params", str(DUMP)]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line == (
        f"rules: {rules_path('convnext_single')}  (num_layers 36, head id 37, "
        "layer_decay 0.9, weight_decay 0.05)"
    )


def test_explain_reports_unknown_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "convnext_huge", "--params", str(DUMP)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "error: convnext_huge: 'convnext_huge' is neither a rule file nor the name of a "
        "bundled rule pack\n"
    )


_CAN_BUILD_WHEEL = all(
    importlib.util.find_spec(module) is not None for module in ("pip", "setuptools", "wheel")
)


@pytest.mark.skipif(not _CAN_BUILD_WHEEL, reason="building the wheel needs pip, setuptools, wheel")
def test_wheel_bundles_every_pack(tmp_path: Path) -> None:
    # Build from a copy, so the build leaves no build/ or egg-info in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for item in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / item, source / item)
    for folder in ("grouprules", "rules"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index"]
    command += ["--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(source)]

    subprocess.run(command, check=True, capture_output=True, timeout=300)

    (wheel,) = (tmp_path / "dist").glob("grouprules-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"grouprules/_packs/{pack}.yaml" for pack in PACKS} <= names
    assert "grouprules/cli/list_rules.py" in names
