"""Lock files: the resolved grouping of one network, written down to compare later.

A lock file is JSON. It records, for every parameter, the layer id, lr_scale,
lr_mult, weight decay and group it got (or why it was skipped), with a sha256
fingerprint of that grouping and the settings that produced it. Comparing a
fresh plan with the lock file shows every parameter that moved, appeared or
disappeared, so a model refactor that renames a module cannot silently change
fine-tuning.

The layout, in this key order, one parameter per line::

    {
      "format_version": 1,
      "grouprules_version": "0.1.0",
      "rules": "rules/convnext.yaml",
      "num_layers": 12,
      "layer_decay": 0.8,
      "weight_decay": 1e-05,
      "fingerprint": "sha256:...",
      "parameters": {
        "backbone.start_cell.0.weight": {"group": "layer_0_decay", "layer_id": 0, ...},
        ...
      },
      "skipped": {
        "backbone.frozen.weight": {"layer_id": 3, "reason": "frozen"},
        ...
      }
    }

Floats are compared with a relative tolerance of :data:`REL_TOLERANCE` and
fingerprinted at 12 significant digits, so a lock written on one machine
checks on another whose ``pow`` rounds the last bit differently.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GroupRulesError
from .plan import Plan

__all__ = [
    "LOCK_FORMAT_VERSION",
    "Change",
    "Lock",
    "LockDiff",
    "LockFileError",
    "compare_locks",
    "dumps_lock",
    "fingerprint",
    "lock_from_plan",
    "read_lock",
    "write_lock",
]

#: Version of the lock file layout this release writes and reads.
LOCK_FORMAT_VERSION = 1
#: Relative tolerance for comparing lr_scale, lr_mult and weight_decay.
REL_TOLERANCE = 1e-9

_PARAMETER_FIELDS = ("layer_id", "lr_scale", "lr_mult", "weight_decay", "group")
_SETTINGS = ("num_layers", "layer_decay", "weight_decay")

Entry = dict[str, Any]


class LockFileError(GroupRulesError):
    """A lock file could not be read, or is not a lock file this release reads."""


@dataclass(frozen=True)
class Lock:
    """A grouping as a lock file records it.

    Attributes:
        rules: The rule file path the grouping came from.
        num_layers: The decay depth L.
        layer_decay: The layer_decay used.
        weight_decay: The default weight decay used.
        parameters: Grouped parameters in network order, each mapped to its
            ``layer_id``, ``lr_scale``, ``lr_mult``, ``weight_decay`` and ``group``.
        skipped: Frozen parameters and shared aliases, each mapped to its
            ``reason`` and, when known, ``layer_id`` or ``shared_with``.
        grouprules_version: The grouprules version that wrote the lock.
        fingerprint: ``sha256:<hex>`` of ``parameters`` and ``skipped``.
    """

    rules: str
    num_layers: int
    layer_decay: float
    weight_decay: float
    parameters: Mapping[str, Entry]
    skipped: Mapping[str, Entry] = field(default_factory=dict)
    grouprules_version: str = ""
    fingerprint: str = ""


def _canonical_number(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value


def fingerprint(parameters: Mapping[str, Entry], skipped: Mapping[str, Entry]) -> str:
    """Return ``sha256:<hex>`` of a grouping, independent of order and float noise.

    Example:
        >>> fingerprint({"w": {"layer_id": 1, "lr_scale": 0.5}}, {})[:15]
        'sha256:e671fbab'
    """
    canonical = {
        "parameters": {
            name: {key: _canonical_number(value) for key, value in entry.items()}
            for name, entry in parameters.items()
        },
        "skipped": {name: dict(entry) for name, entry in skipped.items()},
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def lock_from_plan(plan: Plan, rules: str, grouprules_version: str) -> Lock:
    """Describe ``plan`` as a lock.

    Args:
        plan: The plan, from :func:`grouprules.make_plan`.
        rules: The rule file path to record, as the user wrote it.
        grouprules_version: The version to record.

    Returns:
        The lock, with its fingerprint.
    """
    parameters = {
        item.name: {
            "layer_id": item.layer_id,
            "lr_scale": item.lr_scale,
            "lr_mult": item.lr_mult,
            "weight_decay": item.weight_decay,
            "group": item.group,
        }
        for item in plan.assignments
    }
    skipped: dict[str, Entry] = {}
    for item in plan.skipped:
        entry: Entry = {"reason": item.reason}
        if item.layer_id is not None:
            entry["layer_id"] = item.layer_id
        if item.shared_with is not None:
            entry["shared_with"] = item.shared_with
        skipped[item.name] = entry
    return Lock(
        rules=rules,
        num_layers=plan.num_layers,
        layer_decay=plan.layer_decay,
        weight_decay=plan.weight_decay,
        parameters=parameters,
        skipped=skipped,
        grouprules_version=grouprules_version,
        fingerprint=fingerprint(parameters, skipped),
    )


def _entries_block(entries: Mapping[str, Entry]) -> str:
    if not entries:
        return "{}"
    lines = [
        f"    {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}"
        for name, entry in entries.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n  }"


def dumps_lock(lock: Lock) -> str:
    """Render ``lock`` as lock file text: fixed key order, one parameter per line."""
    head = {
        "format_version": LOCK_FORMAT_VERSION,
        "grouprules_version": lock.grouprules_version,
        "rules": lock.rules,
        "num_layers": lock.num_layers,
        "layer_decay": lock.layer_decay,
        "weight_decay": lock.weight_decay,
        "fingerprint": lock.fingerprint,
    }
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    lines.append(f'  "parameters": {_entries_block(lock.parameters)},')
    lines.append(f'  "skipped": {_entries_block(lock.skipped)}')
    return "{\n" + "\n".join(lines) + "\n}\n"


def write_lock(lock: Lock, path: str | Path) -> None:
    """Write ``lock`` to ``path`` (UTF-8, ``\\n`` line ends).

    Raises:
        LockFileError: The file cannot be written.
    """
    try:
        Path(path).write_text(dumps_lock(lock), encoding="utf-8", newline="\n")
    except OSError as exc:
        raise LockFileError(f"{path}: cannot write the lock file: {exc.strerror or exc}") from None


def _require(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LockFileError(
            f"{path}: key {key!r} is missing or has the wrong type (found {value!r})\n"
            "  Hint: regenerate the lock file with `grouprules lock`."
        )
    return value


def read_lock(path: str | Path) -> Lock:
    """Read a lock file written by :func:`write_lock`.

    Raises:
        LockFileError: The file cannot be read, is not JSON, has another
            format version, lacks a key, or its fingerprint does not match its
            entries (the file was edited by hand).
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise LockFileError(
            f"{file}: cannot read the lock file: {reason}\n"
            "  Hint: create it with `grouprules lock RULES --model ... -o FILE`."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockFileError(
            f"{file}:{exc.lineno}:{exc.colno}: the lock file is not valid JSON: {exc.msg}\n"
            "  Hint: regenerate it with `grouprules lock`; resolve merge conflicts by "
            "regenerating, not by editing."
        ) from None
    if not isinstance(data, dict):
        raise LockFileError(f"{file}: the lock file is not a JSON object")
    version = data.get("format_version")
    if version != LOCK_FORMAT_VERSION:
        raise LockFileError(
            f"{file}: lock file format_version is {version!r}; this grouprules reads "
            f"{LOCK_FORMAT_VERSION}\n  Hint: regenerate it with `grouprules lock`."
        )

    parameters = _require(data, "parameters", dict, file)
    skipped = _require(data, "skipped", dict, file)
    lock = Lock(
        rules=_require(data, "rules", str, file),
        num_layers=_require(data, "num_layers", int, file),
        layer_decay=float(_require(data, "layer_decay", (int, float), file)),
        weight_decay=float(_require(data, "weight_decay", (int, float), file)),
        parameters=parameters,
        skipped=skipped,
        grouprules_version=str(data.get("grouprules_version", "")),
        fingerprint=_require(data, "fingerprint", str, file),
    )
    for name, entry in parameters.items():
        missing = [key for key in _PARAMETER_FIELDS if key not in entry]
        if missing:
            raise LockFileError(
                f"{file}: parameter {name!r} lacks {', '.join(missing)}\n"
                "  Hint: regenerate the lock file with `grouprules lock`."
            )
    actual = fingerprint(parameters, skipped)
    if actual != lock.fingerprint:
        raise LockFileError(
            f"{file}: the fingerprint {lock.fingerprint} does not match the entries "
            f"({actual}), so the file was edited by hand\n"
            "  Hint: regenerate it with `grouprules lock` instead of editing it."
        )
    return lock


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        if isinstance(old, (int, float)) and isinstance(new, (int, float)):
            return math.isclose(old, new, rel_tol=REL_TOLERANCE, abs_tol=1e-15)
    return bool(old == new)


def _state(lock: Lock, name: str) -> Entry | None:
    if name in lock.parameters:
        return dict(lock.parameters[name])
    if name in lock.skipped:
        return {"skipped": lock.skipped[name].get("reason", "skipped")}
    return None


@dataclass(frozen=True)
class Change:
    """One parameter whose grouping differs.

    Attributes:
        name: The parameter name.
        old: Its entry before, or ``None`` when it is new.
        new: Its entry now, or ``None`` when it is gone.
        fields: For a moved parameter, each field that differs with its old
            and new value; a parameter that became skipped has ``skipped``.
    """

    name: str
    old: Entry | None
    new: Entry | None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class LockDiff:
    """The differences between two groupings of one network.

    Attributes:
        settings: ``num_layers``, ``layer_decay`` and ``weight_decay`` that differ,
            each as ``(old, new)``.
        moved: Parameters in both whose layer, lr or group differs, or that
            became or stopped being skipped.
        added: Parameters only in the new grouping.
        removed: Parameters only in the old grouping.
    """

    settings: dict[str, tuple[Any, Any]]
    moved: tuple[Change, ...]
    added: tuple[Change, ...]
    removed: tuple[Change, ...]

    @property
    def same(self) -> bool:
        """``True`` when the groupings agree on every parameter and setting."""
        return not (self.settings or self.moved or self.added or self.removed)

    def to_dict(self) -> dict[str, Any]:
        """Return the diff as plain data, ready for ``json.dumps``."""
        return {
            "same": self.same,
            "settings": {key: list(pair) for key, pair in self.settings.items()},
            "moved": [
                {"name": item.name, "changes": {k: list(v) for k, v in item.fields.items()}}
                for item in self.moved
            ],
            "added": [{"name": item.name, **(item.new or {})} for item in self.added],
            "removed": [{"name": item.name, **(item.old or {})} for item in self.removed],
        }


def _field_changes(old: Entry, new: Entry) -> dict[str, tuple[Any, Any]]:
    if "skipped" in old or "skipped" in new:
        before = old.get("skipped", "grouped")
        after = new.get("skipped", "grouped")
        changes: dict[str, tuple[Any, Any]] = {}
        if before != after:
            changes["skipped"] = (before, after)
        return changes
    return {
        key: (old.get(key), new.get(key))
        for key in _PARAMETER_FIELDS
        if not _same(old.get(key), new.get(key))
    }


def compare_locks(old: Lock, new: Lock) -> LockDiff:
    """Compare two groupings parameter by parameter.

    Args:
        old: The recorded grouping, such as a lock file's.
        new: Today's grouping.

    Returns:
        The differences; parameters keep the new grouping's order, then the old's.
    """
    settings = {
        key: (getattr(old, key), getattr(new, key))
        for key in _SETTINGS
        if not _same(getattr(old, key), getattr(new, key))
    }
    names = list(new.parameters) + list(new.skipped)
    seen = set(names)
    names += [name for name in [*old.parameters, *old.skipped] if name not in seen]

    moved, added, removed = [], [], []
    for name in names:
        before = _state(old, name)
        after = _state(new, name)
        if before is None:
            added.append(Change(name, None, after))
        elif after is None:
            removed.append(Change(name, before, None))
        else:
            changes = _field_changes(before, after)
            if changes:
                moved.append(Change(name, before, after, changes))
    return LockDiff(settings, tuple(moved), tuple(added), tuple(removed))
