"""Bundled rule packs: the files in the repository's ``rules/`` folder.

A wheel installs them as the ``grouprules._packs`` package. In a source
checkout or an editable install they are read from ``rules/`` beside the
package, so a pack is found by name either way.
"""

from __future__ import annotations

from pathlib import Path

from ._quoting import quoted
from .errors import Problem, RuleFileError

__all__ = ["list_packs", "resolve_rules", "rules_path"]

_SUFFIXES = (".yaml", ".yml", ".toml")


def _pack_folder() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "_packs"
    return installed if installed.is_dir() else package.parent / "rules"


def list_packs() -> list[str]:
    """Return the names of the bundled packs, sorted.

    Example:
        >>> "convnext" in list_packs()
        True
    """
    folder = _pack_folder()
    return sorted({path.stem for path in folder.iterdir() if path.suffix in _SUFFIXES})


def _find_pack(name: str) -> Path | None:
    folder = _pack_folder()
    for suffix in _SUFFIXES:
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def rules_path(name: str) -> Path:
    """Return the path of the bundled pack ``name``.

    Args:
        name: A pack name as :func:`list_packs` returns it, such as ``convnext``.

    Returns:
        The pack's file.

    Raises:
        RuleFileError: No pack has that name.

    Example:
        >>> rules_path("convnext").name
        'convnext.yaml'
    """
    path = _find_pack(name)
    if path is None:
        raise RuleFileError(
            [
                Problem(
                    f"no bundled rule pack is named {quoted(name)}",
                    str(_pack_folder()),
                    expected="one of: " + ", ".join(list_packs()),
                    hint="run `grouprules list-rules` to list the packs, or give the path "
                    "of a rule file",
                )
            ]
        )
    return path


def resolve_rules(spec: str | Path) -> Path:
    """Return ``spec`` as a path: an existing file, or else a bundled pack name.

    A plain name with no folder and no suffix that is not an existing file is
    looked up among the bundled packs. Anything else is returned unchanged, and
    the loader reports a missing file when it opens the path.

    Args:
        spec: A rule file path, or a pack name such as ``vit_mindcv``.

    Returns:
        The path to read.

    Raises:
        RuleFileError: ``spec`` is a plain name that is neither an existing file
            nor a bundled pack.

    Example:
        >>> resolve_rules("vit_mindcv").name
        'vit_mindcv.yaml'
    """
    path = Path(spec)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path

    found = _find_pack(str(spec))
    if found is None:
        raise RuleFileError(
            [
                Problem(
                    f"{quoted(str(spec))} is neither a rule file nor the name of a bundled "
                    "rule pack",
                    str(spec),
                    expected="a .yaml, .yml or .toml rule file, or one of the packs: "
                    + ", ".join(list_packs()),
                    hint="give the rule file's path with its suffix, or run "
                    "`grouprules list-rules` to list the packs",
                )
            ]
        )
    return found
