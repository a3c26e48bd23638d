"""Tests for grouprules.jsonschema and the committed docs/rule-file.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from grouprules.cli import main
from grouprules.jsonschema import JSON_SCHEMA_DIALECT, dumps_rule_file_schema, rule_file_schema

_REPO_ROOT = Path(__file__).resolve().parents[1]
_SCHEMA_PATH = _REPO_ROOT / "docs" / "rule-file.schema.json"
_PACKS = sorted((_REPO_ROOT / "rules").glob("*.yaml"))


def _validator() -> Any:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is a test-only dependency (pip install jsonschema)"
    )
    schema = json.loads(_SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_generated_one() -> None:
    committed = _SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == dumps_rule_file_schema(), (
        "docs/rule-file.schema.json is stale; run `grouprules schema -o docs/rule-file.schema.json`"
    )


def test_schema_command_prints_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == dumps_rule_file_schema()


def test_schema_command_writes_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == dumps_rule_file_schema()


def test_schema_header_and_descriptions() -> None:
    schema = rule_file_schema()
    assert next(iter(schema)) == "$schema"
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["title"] == "grouprules rule file"
    assert schema["description"] == "A whole rule file."
    assert schema["properties"]["num_layers"]["description"] == (
        "The decay depth L. Layer ids run `0..L + 1` and the head id `L + 1` gets lr_scale 1.0."
    )
    rule = schema["$defs"]["Rule"]
    assert rule["properties"]["pattern"]["description"].startswith(
        "Regular expression matched from the start of the parameter name"
    )


def test_every_object_forbids_unknown_keys() -> None:
    schema = rule_file_schema()
    objects = [schema, *schema["$defs"].values()]
    assert [item.get("additionalProperties") for item in objects] == [False] * len(objects)


@pytest.mark.parametrize("path", _PACKS, ids=lambda path: path.name)
def test_schema_accepts_bundled_pack(path: Path) -> None:
    validator = _validator()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [error.message for error in validator.iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize("path", _PACKS, ids=lambda path: path.name)
def test_bundled_pack_references_schema(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=../docs/rule-file.schema.json"


def test_schema_rejects_misspelled_key() -> None:
    validator = _validator()
    data = yaml.safe_load((_REPO_ROOT / "rules" / "convnext.yaml").read_text(encoding="utf-8"))
    data["rules"][0]["paterns"] = data["rules"][0].pop("pattern")
    messages = sorted(error.message for error in validator.iter_errors(data))
    assert messages == [
        "'pattern' is a required property",
        "Additional properties are not allowed ('paterns' was unexpected)",
    ]


def test_schema_rejects_wrong_schema_version() -> None:
    validator = _validator()
    data = yaml.safe_load((_REPO_ROOT / "rules" / "convnext.yaml").read_text(encoding="utf-8"))
    data["schema_version"] = 2
    assert [error.message for error in validator.iter_errors(data)] == ["1 was expected"]
