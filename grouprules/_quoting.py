"""Writing rule file values into messages the way a rule file writes them.

Messages quote patterns and other strings as YAML scalars rather than Python
``repr``, so that a backslash appears once and a quoted pattern can be pasted
into a rule file as it is.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

__all__ = ["MAX_VALUE_CHARS", "format_value", "quoted"]

#: Length at which :func:`format_value` cuts its text, ``...`` included.
MAX_VALUE_CHARS = 120

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _double_quoted(text: str) -> str:
    parts = ['"']
    for char in text:
        if char in _ESCAPES:
            parts.append(_ESCAPES[char])
        elif char.isprintable():
            parts.append(char)
        elif ord(char) <= 0xFF:
            parts.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(f"\\U{ord(char):08x}")
    parts.append('"')
    return "".join(parts)


def quoted(text: str) -> str:
    """Quote ``text`` as a YAML scalar, ready to paste into a rule file.

    The result is single-quoted, with each inner ``'`` doubled and backslashes
    kept as written: ``blocks\\.`` becomes ``'blocks\\.'``. A single-quoted
    scalar cannot keep a line break, and other non-printable characters are
    invisible in a terminal, so text that contains any of them is double-quoted
    with YAML escapes instead (``"a\\tb"``).

    Example:
        >>> print(quoted(r"blocks\\.(?P<i>\\d+)\\."))
        'blocks\\.(?P<i>\\d+)\\.'
        >>> print(quoted("it's"))
        'it''s'
    """
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return _double_quoted(text)


def _scalar(value: Any, budget: int) -> str:
    if isinstance(value, str):
        # Quoting only the start of a long string keeps the cost bounded.
        return quoted(value[: budget + 1])
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    if isinstance(value, float) and math.isinf(value):
        return "-.inf" if value < 0 else ".inf"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return repr(value)


class _FlowWriter:
    """YAML flow text of one value, cut off once ``budget`` characters are written."""

    def __init__(self, budget: int) -> None:
        self.parts: list[str] = []
        self.budget = budget

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.budget -= len(text)

    def write(self, value: Any) -> None:
        if self.budget < 0:
            return
        if isinstance(value, (list, tuple)):
            self.add("[")
            for index, item in enumerate(value):
                if self.budget < 0:
                    return
                if index:
                    self.add(", ")
                self.write(item)
            self.add("]")
        elif isinstance(value, dict):
            self.add("{")
            for index, (key, item) in enumerate(value.items()):
                if self.budget < 0:
                    return
                if index:
                    self.add(", ")
                if isinstance(key, str) and key.isidentifier():
                    self.add(key)
                else:
                    self.write(key)
                self.add(": ")
                self.write(item)
            self.add("}")
        else:
            self.add(_scalar(value, self.budget))


def format_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Write a value read from a rule file as YAML flow text, for a message.

    Strings are quoted with :func:`quoted`. Numbers, booleans and null are
    written as YAML writes them (``1e-05``, ``.inf``, ``true``, ``null``), and
    lists and mappings in flow style (``['a', 1]``, ``{pattern: 'x', layer: 1}``).
    Text longer than ``limit`` characters is cut to end with ``...``. Writing
    stops at that point, so a large value, such as a list that an alias repeats
    thousands of times, is cheap to show.

    Example:
        >>> print(format_value(["norm", 1, None]))
        ['norm', 1, null]
    """
    writer = _FlowWriter(limit)
    writer.write(value)
    text = "".join(writer.parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."
