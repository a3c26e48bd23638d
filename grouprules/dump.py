"""Parameter dumps: text listings of a network's parameters.

Two line formats are read, and may be mixed:

* MindSpore's ``repr`` of a parameter, as printed by ``print(net.trainable_params())``
  one per line: ``Parameter (name=head.dense.weight, shape=(1000, 1024), dtype=Float32,
  requires_grad=True)``;
* plain ``name shape`` lines: ``head.dense.weight (1000, 1024)``, where the shape
  may also be written ``[1000, 1024]`` or ``1000x1024``, and ``()`` for a scalar.

Blank lines and lines starting with ``#`` are skipped. A dump carries no owning
cell types, so the ``cell_types`` no-decay test cannot apply to it.
"""

from __future__ import annotations

from pathlib import Path

import regex

from ._quoting import format_value, quoted
from .errors import GroupRulesError
from .records import ParamRecord

__all__ = ["DumpError", "parse_dump", "read_dump"]

_MINDSPORE_LINE = regex.compile(
    r"^\s*Parameter\s*\(\s*name=(?P<name>[^,\s]+)\s*,\s*shape=(?P<shape>\([^)]*\))"
    r"(?:\s*,\s*dtype=(?P<dtype>\w+))?(?:\s*,\s*requires_grad=(?P<grad>True|False))?.*\)\s*$"
)
_PLAIN_LINE = regex.compile(
    r"^\s*(?P<name>[^\s]+)\s+(?P<shape>\([^)]*\)|\[[^\]]*\]|\d+(?:x\d+)*)"
    r"(?:\s+(?P<grad>trainable|frozen))?\s*$"
)


class DumpError(GroupRulesError):
    """A parameter dump line could not be read."""


def _parse_shape(text: str) -> tuple[int, ...] | None:
    """Return the sizes in ``text``, or ``None`` when one is not a whole number."""
    inner = text.strip("()[] ")
    if not inner:
        return ()
    parts = [part.strip() for part in regex.split(r"[,x]", inner)]
    if parts[-1] == "":
        # A one-element tuple is written (10,).
        parts.pop()
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        return None
    return tuple(int(part) for part in parts)


def parse_dump(text: str, source: str = "<string>") -> list[ParamRecord]:
    """Parse a parameter dump into records.

    Args:
        text: The dump's content.
        source: Name used in error messages, usually the file path.

    Returns:
        One record per line, in order. ``requires_grad=False`` (or the plain
        format's ``frozen`` marker) gives a frozen record.

    Raises:
        DumpError: A line is in neither format, or a name appears twice.

    Example:
        >>> record = parse_dump("head.bias (10,)\\nhead.weight 10x4 frozen")[1]
        >>> record.name, record.shape, record.trainable
        ('head.weight', (10, 4), False)
    """
    records = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _MINDSPORE_LINE.match(line) or _PLAIN_LINE.match(line)
        if match is None:
            raise DumpError(
                f"{source}:{number}: cannot read parameter line {format_value(line.strip())}\n"
                "  expected: 'Parameter (name=NAME, shape=(D, ...), ...)' or 'NAME (D, ...)'\n"
                "  Hint: print each parameter on its own line, for example with "
                "`for p in net.get_parameters(): print(p)`."
            )
        name = match.group("name")
        if name in seen:
            raise DumpError(
                f"{source}:{number}: parameter {quoted(name)} is listed twice (first on line "
                f"{seen[name]})\n  Hint: remove the duplicate line."
            )
        shape = _parse_shape(match.group("shape"))
        if shape is None:
            raise DumpError(
                f"{source}:{number}: parameter {quoted(name)} has shape "
                f"{format_value(match.group('shape'), 60)}, "
                "which is not a list of whole numbers\n"
                "  expected: sizes such as (768, 3, 16, 16), [768, 3] or 768x3\n"
                "  Hint: copy the shape as MindSpore prints it."
            )
        seen[name] = number
        grad = match.group("grad")
        trainable = grad not in ("False", "frozen")
        records.append(ParamRecord(name, shape, (), trainable))
    return records


def read_dump(path: str | Path) -> list[ParamRecord]:
    """Read a parameter dump file; see :func:`parse_dump`.

    Raises:
        DumpError: The file cannot be read or a line cannot be parsed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DumpError(f"{path}: cannot read the parameter dump: {exc}") from None
    return parse_dump(text, str(path))
