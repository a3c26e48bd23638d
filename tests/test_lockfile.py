"""Tests for grouprules.lockfile: writing, reading and comparing lock files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grouprules import ParamRecord, loads_rules, make_plan
from grouprules.lockfile import (
    LOCK_FORMAT_VERSION,
    Lock,
    LockFileError,
    compare_locks,
    dumps_lock,
    fingerprint,
    lock_from_plan,
    read_lock,
    write_lock,
)

_RULES = """\
schema_version: 1
name: tiny
num_layers: 2
layer_decay: 0.5
weight_decay: 0.05
no_weight_decay: {max_rank: 1}
rules:
  - {pattern: 'embed\\.', layer: 0}
  - {pattern: 'blocks\\.(?P<i>\\d+)\\.', layer: 'i + 1'}
  - {pattern: 'head\\.', layer: head}
"""

_RECORDS = [
    ParamRecord("embed.weight", (10, 4)),
    ParamRecord("blocks.0.weight", (4, 4)),
    ParamRecord("blocks.1.weight", (4, 4)),
    ParamRecord("blocks.1.bias", (4,)),
    ParamRecord("head.weight", (2, 4)),
    ParamRecord("head.frozen", (2,), trainable=False),
]


def _lock(rules_text: str = _RULES, records: list[ParamRecord] = _RECORDS, **kwargs: float) -> Lock:
    plan = make_plan(loads_rules(rules_text, source="tiny.yaml"), records, **kwargs)
    return lock_from_plan(plan, "tiny.yaml", "0.1.0")


def test_lock_records_every_parameter() -> None:
    lock = _lock()
    assert list(lock.parameters) == [
        "embed.weight",
        "blocks.0.weight",
        "blocks.1.weight",
        "blocks.1.bias",
        "head.weight",
    ]
    assert lock.parameters["blocks.1.bias"] == {
        "layer_id": 2,
        "lr_scale": 0.5,
        "lr_mult": 1.0,
        "weight_decay": 0.0,
        "group": "layer_2_no_decay",
    }
    assert lock.skipped == {"head.frozen": {"reason": "frozen", "layer_id": 3}}
    assert lock.fingerprint == fingerprint(lock.parameters, lock.skipped)


def test_lock_text_has_one_parameter_per_line() -> None:
    text = dumps_lock(_lock())
    lines = text.splitlines()
    assert lines[0] == "{"
    assert lines[1] == f'  "format_version": {LOCK_FORMAT_VERSION},'
    assert lines[3] == '  "rules": "tiny.yaml",'
    assert (
        '    "blocks.1.bias": {"group": "layer_2_no_decay", "layer_id": 2, "lr_mult": 1.0, '
        '"lr_scale": 0.5, "weight_decay": 0.0},'
    ) in lines
    assert json.loads(text)["num_layers"] == 2


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    lock = _lock()
    path = tmp_path / "grouprules.lock"
    write_lock(lock, path)
    assert read_lock(path) == lock


def test_fingerprint_ignores_order_and_float_noise() -> None:
    first = {"a": {"layer_id": 1, "lr_scale": 0.1 + 0.2}, "b": {"layer_id": 2, "lr_scale": 1.0}}
    second = {"b": {"layer_id": 2, "lr_scale": 1.0}, "a": {"layer_id": 1, "lr_scale": 0.3}}
    assert fingerprint(first, {}) == fingerprint(second, {})
    assert fingerprint(first, {}) != fingerprint({"a": first["a"]}, {})


def test_same_grouping_compares_equal() -> None:
    diff = compare_locks(_lock(), _lock())
    assert diff.same
    assert diff.to_dict() == {"same": True, "settings": {}, "moved": [], "added": [], "removed": []}


def test_moved_parameter_lists_changed_fields() -> None:
    moved_rules = _RULES.replace(
        "{pattern: 'embed\\.', layer: 0}", "{pattern: 'embed\\.', layer: 1}"
    )
    diff = compare_locks(_lock(), _lock(moved_rules))
    assert not diff.same
    assert [change.name for change in diff.moved] == ["embed.weight"]
    assert diff.moved[0].fields == {
        "layer_id": (0, 1),
        "lr_scale": (0.125, 0.25),
        "group": ("layer_0_decay", "layer_1_decay"),
    }
    assert diff.added == ()
    assert diff.removed == ()


def test_added_and_removed_parameters() -> None:
    renamed = [
        ParamRecord("embedding.weight" if r.name == "embed.weight" else r.name, r.shape)
        for r in _RECORDS
        if r.trainable
    ]
    rules = _RULES.replace("'embed\\.'", "'embed(?:ding)?\\.'")
    diff = compare_locks(_lock(), _lock(rules, renamed))
    assert [change.name for change in diff.added] == ["embedding.weight"]
    assert [change.name for change in diff.removed] == ["embed.weight", "head.frozen"]
    assert diff.to_dict()["removed"][1] == {"name": "head.frozen", "skipped": "frozen"}


def test_parameter_that_became_frozen_moves() -> None:
    frozen = [ParamRecord(r.name, r.shape, trainable=r.name != "blocks.0.weight") for r in _RECORDS]
    frozen[-1] = ParamRecord("head.frozen", (2,), trainable=False)
    diff = compare_locks(_lock(), _lock(records=frozen))
    assert [change.name for change in diff.moved] == ["blocks.0.weight"]
    assert diff.moved[0].fields == {"skipped": ("grouped", "frozen")}


def test_setting_change_is_reported() -> None:
    diff = compare_locks(_lock(), _lock(layer_decay=0.8))
    assert diff.settings == {"layer_decay": (0.5, 0.8)}
    assert len(diff.moved) == 4


def test_read_rejects_hand_edited_lock(tmp_path: Path) -> None:
    path = tmp_path / "grouprules.lock"
    write_lock(_lock(), path)
    text = path.read_text(encoding="utf-8").replace('"layer_id": 0', '"layer_id": 1', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: the fingerprint sha256:")
    assert "does not match the entries" in message
    assert message.endswith(
        "so the file was edited by hand\n"
        "  Hint: regenerate it with `grouprules lock` instead of editing it."
    )


def test_read_rejects_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "grouprules.lock"
    path.write_text('{\n  "format_version": 1,\n<<<<<<< HEAD\n', encoding="utf-8")
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    assert str(caught.value) == (
        f"{path}:3:1: the lock file is not valid JSON: Expecting property name enclosed in "
        "double quotes\n"
        "  Hint: regenerate it with `grouprules lock`; resolve merge conflicts by "
        "regenerating, not by editing."
    )


def test_read_rejects_other_format_version(tmp_path: Path) -> None:
    path = tmp_path / "grouprules.lock"
    path.write_text('{"format_version": 99}', encoding="utf-8")
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    assert str(caught.value) == (
        f"{path}: lock file format_version is 99; this grouprules reads 1\n"
        "  Hint: regenerate it with `grouprules lock`."
    )


def test_read_rejects_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.lock"
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    assert str(caught.value) == (
        f"{path}: cannot read the lock file: No such file or directory\n"
        "  Hint: create it with `grouprules lock RULES --model ... -o FILE`."
    )


def test_read_rejects_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "grouprules.lock"
    data = json.loads(dumps_lock(_lock()))
    del data["parameters"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    assert str(caught.value) == (
        f"{path}: key 'parameters' is missing or has the wrong type (found None)\n"
        "  Hint: regenerate the lock file with `grouprules lock`."
    )
