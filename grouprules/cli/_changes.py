"""Rendering of a :class:`~grouprules.lockfile.LockDiff` for ``check`` and ``diff``."""

from __future__ import annotations

from typing import Any

from ..lockfile import Change, LockDiff
from ._report import github_annotation

__all__ = ["describe_entry", "diff_annotations", "render_diff"]

_ENTRY_ORDER = ("layer_id", "lr_scale", "lr_mult", "weight_decay", "group", "skipped")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def describe_entry(entry: dict[str, Any] | None) -> str:
    """Describe one parameter's entry as ``layer_id 3, lr_scale 0.5, ...``."""
    if not entry:
        return "-"
    return ", ".join(f"{key} {_value(entry[key])}" for key in _ENTRY_ORDER if key in entry)


def _describe_change(change: Change) -> str:
    return ", ".join(
        f"{key} {_value(old)} -> {_value(new)}" for key, (old, new) in change.fields.items()
    )


def _counts(diff: LockDiff) -> str:
    return (
        f"{len(diff.moved)} parameter(s) moved, {len(diff.added)} added, "
        f"{len(diff.removed)} removed"
    )


def render_diff(diff: LockDiff, old_label: str, new_label: str) -> str:
    """Render a diff for a terminal: settings, then moved, added and removed parameters.

    Args:
        diff: The differences.
        old_label: What the old grouping is, such as ``grouprules.lock (sha256:...)``.
        new_label: What the new grouping is.

    Returns:
        The text, without a final newline.
    """
    lines = [f"the grouping differs: {_counts(diff)}", f"  old: {old_label}", f"  new: {new_label}"]
    if diff.settings:
        lines += ["", "settings:"]
        lines += [
            f"  {key}: {_value(old)} -> {_value(new)}" for key, (old, new) in diff.settings.items()
        ]
    sections = (
        ("moved", diff.moved, _describe_change),
        ("added", diff.added, lambda change: describe_entry(change.new)),
        ("removed", diff.removed, lambda change: describe_entry(change.old)),
    )
    for title, changes, describe in sections:
        if changes:
            lines += ["", f"{title} ({len(changes)}):"]
            lines += [f"  {change.name}: {describe(change)}" for change in changes]
    return "\n".join(lines)


def _lock_lines(text: str) -> dict[str, int]:
    # The lock file puts one parameter (or one top-level key) per line, as `    "name": {...`.
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith('"') and '":' in stripped:
            key = stripped[1 : stripped.index('":')]
            found.setdefault(key, number)
    return found


def diff_annotations(diff: LockDiff, lock_path: str, lock_text: str) -> list[str]:
    """Return one GitHub error annotation per changed setting and parameter.

    Moved and removed parameters, and changed settings, point at their line in
    the lock file. Added parameters have no line there, so they name the file only.
    """
    lines_by_key = _lock_lines(lock_text)
    annotations = []
    for key, (old, new) in diff.settings.items():
        annotations.append(
            github_annotation(
                "error",
                f"{key} changed: {_value(old)} -> {_value(new)}",
                title="grouprules setting-changed",
                file=lock_path,
                line=lines_by_key.get(key),
            )
        )
    for change in diff.moved:
        annotations.append(
            github_annotation(
                "error",
                f"{change.name} moved: {_describe_change(change)}",
                title="grouprules parameter-moved",
                file=lock_path,
                line=lines_by_key.get(change.name),
            )
        )
    for change in diff.added:
        annotations.append(
            github_annotation(
                "error",
                f"{change.name} is new: {describe_entry(change.new)}",
                title="grouprules parameter-added",
                file=lock_path,
            )
        )
    for change in diff.removed:
        annotations.append(
            github_annotation(
                "error",
                f"{change.name} is gone: it was {describe_entry(change.old)}",
                title="grouprules parameter-removed",
                file=lock_path,
                line=lines_by_key.get(change.name),
            )
        )
    return annotations
