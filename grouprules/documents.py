"""Reading rule file text into plain data, safely and with bounded cost.

Rule files are untrusted input. This module turns their bytes or text into
dicts, lists and scalars, and records the ``(line, column)`` of every key trail
(``rules[3].layer``) so that later errors can point into the file.

* YAML is read with PyYAML's safe loader, rebuilt here node by node. No tag
  constructs an object: only the plain YAML types (mapping, sequence, string,
  integer, float, boolean, null, timestamp) are accepted, and any other tag,
  ``!!python/object`` included, is an error. Merge keys (``<<: *anchor``) are
  expanded here with YAML's precedence (explicit keys first, then the merged
  mappings in order), so that an explicit key may override a merged one.
* TOML is read with the standard ``tomllib``, which reports no positions, so
  lines are found by scanning the text for table headers and ``key =`` lines.
  Keys inside inline tables are not found, and their errors fall back to the
  nearest enclosing key found.

Limits bound time and memory whatever the input: the file size, the nesting
depth, and the number of values, counted both while PyYAML composes the
document and after aliases are expanded (which stops "billion laughs" files).
Duplicate keys are errors in both formats.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import regex
import yaml

from ._quoting import format_value
from .errors import Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python < 3.11
    import tomli as tomllib

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "Positions",
    "decode",
    "oversize_problem",
    "parse_toml",
    "parse_yaml",
    "toml_positions",
]

#: Maximum rule file size accepted, in bytes. Rule files are a few kilobytes, so this
#: leaves a wide margin while bounding the time the pure-Python YAML reader spends.
MAX_FILE_BYTES = 262_144
#: Maximum nesting of mappings and lists accepted. The schema itself needs 3.
MAX_DEPTH = 32
#: Maximum number of values accepted: scalars, mappings and lists, with keys and each use
#: of an alias counted.
MAX_VALUES = 10_000

#: ``(line, column)``, 1-based, of each key trail; ``key:<trail>`` entries give
#: the position of the key itself rather than of its value.
Positions = dict[str, tuple[int, int]]

_TAG = "tag:yaml.org,2002:"
_MAP_TAG = _TAG + "map"
_SEQ_TAG = _TAG + "seq"
_MERGE_TAG = _TAG + "merge"
_VALUE_TAG = _TAG + "value"
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_TOO_BIG = "a rule file of a few hundred lines"


class _Abort(Exception):
    """Stops reading at the first limit exceeded; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _limit_problem(file: str, mark: Any, trail: str, message: str, fix: str) -> Problem:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Problem(message, file, line, column, trail, expected=_TOO_BIG, hint=f"remove {fix}")


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader that reads ``1e-5`` as a float and stops on huge documents.

    YAML 1.1 requires a dot in a float, so PyYAML alone reads ``1e-5`` as a
    string; rule files write weight decays that way. Composition stops once
    :data:`MAX_VALUES` nodes or :data:`MAX_DEPTH` levels are reached, before
    the parser reads the rest of the file.
    """

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.composed = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.composed += 1
        self.depth += 1
        try:
            if self.composed > MAX_VALUES:
                raise _Abort(
                    _limit_problem(
                        self.file,
                        self.peek_event().start_mark,
                        "",
                        f"the file contains more than {MAX_VALUES} values",
                        "most of the entries; rule files need a few hundred",
                    )
                )
            if self.depth > MAX_DEPTH + 1:
                raise _Abort(
                    _limit_problem(
                        self.file,
                        self.peek_event().start_mark,
                        "",
                        f"nesting is deeper than {MAX_DEPTH} levels",
                        "the deeply nested brackets or indentation",
                    )
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    regex.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        regex.X,
    ),
    list("-+0123456789."),
)


class _YamlTree:
    """Rebuilds a composed YAML node graph as plain data and records positions."""

    def __init__(self, loader: _BoundedLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: Positions = {}
        self.problems: list[Problem] = []
        self.values = 0

    def _problem(self, node: yaml.Node, trail: str, message: str, **extra: Any) -> None:
        mark = node.start_mark
        self.problems.append(
            Problem(message, self.file, mark.line + 1, mark.column + 1, trail, **extra)
        )

    def build(self, node: yaml.Node, trail: str, depth: int) -> Any:
        # Aliases reuse one node many times, so values are counted as expanded.
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Abort(
                _limit_problem(
                    self.file,
                    node.start_mark,
                    trail,
                    f"the file expands to more than {MAX_VALUES} values",
                    "aliases (*name) that repeat an anchor many times",
                )
            )
        if depth > MAX_DEPTH:
            raise _Abort(
                _limit_problem(
                    self.file,
                    node.start_mark,
                    trail,
                    f"nesting is deeper than {MAX_DEPTH} levels",
                    "the deeply nested brackets, or an alias that refers to itself",
                )
            )
        mark = node.start_mark
        self.positions.setdefault(trail, (mark.line + 1, mark.column + 1))

        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                return self._bad_tag(node, trail)
            return self._mapping(node, trail, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                return self._bad_tag(node, trail)
            return [
                self.build(item, f"{trail}[{index}]", depth + 1)
                for index, item in enumerate(node.value)
            ]
        return self._scalar(node, trail)

    def _bad_tag(self, node: yaml.Node, trail: str) -> None:
        self._problem(
            node,
            trail,
            f"YAML tag {_short_tag(node.tag)} is not allowed",
            expected="plain YAML mappings, lists, strings, numbers, booleans and null",
            hint="remove the tag; rule files never construct objects",
        )

    def _scalar(self, node: yaml.Node, trail: str) -> Any:
        if node.tag == _VALUE_TAG:
            # PyYAML resolves a bare `=` to the YAML 1.1 value tag; it is a plain string here.
            return str(node.value)
        if node.tag not in _SCALAR_TAGS:
            return self._bad_tag(node, trail)
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError):
            # PyYAML raises these for a value its explicit tag cannot read, as in `!!int abc`.
            self._problem(
                node,
                trail,
                f"cannot read {format_value(node.value)} as {_short_tag(node.tag)}",
                value=format_value(node.value),
                raw_value=node.value,
                expected=f"a value of type {_short_tag(node.tag)}",
                hint="remove the tag or fix the value",
            )
            return None

    def _key(self, key_node: yaml.Node, trail: str) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            # Constructing a complex key could expand aliases without bound, so it is not built.
            kind = "mapping" if isinstance(key_node, yaml.MappingNode) else "list"
            self._problem(
                key_node,
                trail,
                f"mapping key is a {kind}",
                expected="a key name such as `pattern`",
                hint="quote the key or fix the indentation",
            )
            return None
        key = self._scalar(key_node, trail)
        if not isinstance(key, str):
            if key is not None:
                self._problem(
                    key_node,
                    trail,
                    "mapping key is not a string",
                    value=format_value(key),
                    raw_value=key,
                    expected="a key name such as `pattern`",
                    hint="quote the key or fix the indentation",
                )
            return None
        return key

    def _merge_sources(self, value_node: yaml.Node, trail: str) -> Iterator[yaml.Node]:
        candidates = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for candidate in candidates:
            if isinstance(candidate, yaml.MappingNode):
                yield candidate
            else:
                self._problem(
                    candidate,
                    trail,
                    "a merge key (<<) must refer to a mapping or a list of mappings",
                    expected="<<: *anchor, where the anchor names a mapping",
                    hint="point the alias at a mapping",
                )

    def _mapping(self, node: yaml.MappingNode, trail: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.extend(self._merge_sources(value_node, trail))
                continue
            key = self._key(key_node, trail)
            if key is None:
                continue
            child = f"{trail}.{key}" if trail else key
            if key in result:
                first_line = self.positions.get(f"key:{child}", (0, 0))[0]
                self._problem(
                    key_node,
                    child,
                    f"duplicate key {format_value(key)}, first set on line {first_line}",
                    value=format_value(key),
                    raw_value=key,
                    expected="each key once per mapping",
                    hint="delete one of the two entries; the later one would not silently "
                    "replace the earlier one",
                )
                continue
            key_mark = key_node.start_mark
            self.positions[f"key:{child}"] = (key_mark.line + 1, key_mark.column + 1)
            result[key] = self.build(value_node, child, depth + 1)

        # YAML merge keys: explicit keys win, then earlier merged mappings over later ones.
        for source in merges:
            merged = self.build(source, trail, depth + 1)
            if not isinstance(merged, dict):
                continue
            for key, value in merged.items():
                result.setdefault(key, value)
        return result


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    position = min(max(exc.position, 0), len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = exc.character if isinstance(exc.character, int) else ord(str(exc.character))
    return Problem(
        f"invalid YAML: control character {character:#06x} is not allowed",
        file,
        line,
        column,
        expected="printable text",
        hint="remove the character, or write it as an escape inside a double-quoted string",
    )


def parse_yaml(text: str, file: str) -> tuple[Any, Positions, list[Problem]]:
    """Parse YAML rule file text into plain data.

    Args:
        text: The file's text.
        file: Name used in problem locations.

    Returns:
        The data (``None`` for an empty document or when problems were found),
        the positions of its key trails, and the problems found.
    """
    try:
        loader = _BoundedLoader(text, file)
    except yaml.reader.ReaderError as exc:
        return None, {}, [_reader_problem(exc, text, file)]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        tree = _YamlTree(loader, file)
        data = tree.build(node, "", 0)
        return data, tree.positions, tree.problems
    except _Abort as abort:
        return None, {}, [abort.problem]
    except yaml.reader.ReaderError as exc:
        return None, {}, [_reader_problem(exc, text, file)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        return (
            None,
            {},
            [
                Problem(
                    f"invalid YAML: {message}",
                    file,
                    line,
                    column,
                    expected="a YAML mapping",
                    hint="check indentation and quoting near this line",
                )
            ],
        )
    except yaml.YAMLError as exc:
        return None, {}, [Problem(f"invalid YAML: {exc}", file, hint="check the YAML syntax")]
    finally:
        loader.dispose()


def _toml_key(text: str) -> str | None:
    """Normalize a TOML key as written (``"a" . b``) to a trail part (``a.b``)."""
    parts = []
    for part in text.split("."):
        part = part.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
            part = part[1:-1]
        if not part or any(char in part for char in ",[]{}="):
            return None
        parts.append(part)
    return ".".join(parts)


def _toml_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(number, line)`` for each line outside a multi-line string."""
    inside: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if inside is None:
            yield number, line
        # A line with an odd number of triple quotes opens or closes a multi-line string.
        for quotes in ('"""', "'''"):
            if (inside is None or inside == quotes) and line.count(quotes) % 2 == 1:
                inside = None if inside == quotes else quotes


def toml_positions(text: str) -> tuple[Positions, list[tuple[str, int, int, int]]]:
    """Find the line of each table header and ``key =`` line in TOML text.

    Plain string operations only, so that a long line costs linear time. The
    whole document (trail ``""``) is placed at its first key or table header,
    as YAML places it, or at 1:1 when there is none.

    Returns:
        The positions, and ``(trail, line, column, first_line)`` for each key or
        table set twice, for a clearer duplicate key error than ``tomllib`` gives.
    """
    positions: Positions = {}
    duplicates: list[tuple[str, int, int, int]] = []
    prefix = ""
    array_counts: dict[str, int] = {}
    for number, line in _toml_lines(text):
        stripped = line.lstrip()
        column = len(line) - len(stripped) + 1
        if stripped.startswith("["):
            is_array = stripped.startswith("[[")
            bracket = 2 if is_array else 1
            close = stripped.find("]" * bracket)
            if close <= 0:
                continue
            name = _toml_key(stripped[bracket:close])
            rest = stripped[close + bracket :].strip()
            if name is None or (rest and not rest.startswith("#")):
                continue
            if is_array:
                index = array_counts.get(name, 0)
                array_counts[name] = index + 1
                prefix = f"{name}[{index}]"
            else:
                prefix = name
                if name in positions:
                    duplicates.append((name, number, column, positions[name][0]))
            positions.setdefault(prefix, (number, column))
            continue
        equals = stripped.find("=")
        key = _toml_key(stripped[:equals]) if equals > 0 and stripped[0] != "#" else None
        if key is None:
            continue
        trail = f"{prefix}.{key}" if prefix else key
        if f"key:{trail}" in positions:
            duplicates.append((trail, number, column, positions[f"key:{trail}"][0]))
        positions.setdefault(trail, (number, column))
        positions.setdefault(f"key:{trail}", (number, column))
    positions[""] = min(positions.values(), default=(1, 1))
    return positions, duplicates


def _count_values(data: Any, file: str) -> list[Problem]:
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            message = f"nesting is deeper than {MAX_DEPTH} levels"
            return [Problem(message, file, expected=_TOO_BIG, hint="write a flatter file")]
        if count > MAX_VALUES:
            message = f"the file contains more than {MAX_VALUES} values"
            return [Problem(message, file, expected=_TOO_BIG, hint="write a smaller file")]
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return []


def parse_toml(text: str, file: str) -> tuple[Any, Positions, list[Problem]]:
    """Parse TOML rule file text into plain data; see :func:`parse_yaml`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, {}, [_toml_problem(exc, text, file)]
    except RecursionError:
        message = f"nesting is deeper than {MAX_DEPTH} levels"
        return None, {}, [Problem(message, file, expected=_TOO_BIG, hint="write a flatter file")]
    problems = _count_values(data, file)
    if problems:
        return None, {}, problems
    positions, _ = toml_positions(text)
    return data, positions, []


def _toml_problem(exc: tomllib.TOMLDecodeError, text: str, file: str) -> Problem:
    reason = str(exc).split(" (at ")[0]
    found = regex.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    line = int(found.group(1)) if found else None
    column = int(found.group(2)) if found else None

    if any(word in reason for word in ("overwrite", "twice", "mutate")):
        _, duplicates = toml_positions(text)
        if duplicates:
            trail, line, column, first_line = duplicates[0]
            key = trail.rsplit(".", 1)[-1]
            return Problem(
                f"duplicate key {format_value(key)}, first set on line {first_line}",
                file,
                line,
                column,
                trail,
                expected="each key and table once",
                hint="delete one of the two entries; the later one would not silently "
                "replace the earlier one",
            )
    return Problem(
        f"invalid TOML: {reason}",
        file,
        line,
        column,
        expected="a TOML document",
        hint="check quoting and brackets near this line; each key may be set only once",
    )


def oversize_problem(size: int, file: str) -> Problem:
    """Return the problem reported for rule file content of ``size`` bytes over the limit."""
    return Problem(
        f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES}",
        file,
        expected=f"at most {MAX_FILE_BYTES} bytes",
        hint="rule files are a few kilobytes; check that this is the right file",
    )


def decode(data: bytes | str, file: str) -> tuple[str | None, list[Problem]]:
    """Check the size of rule file content and decode it as UTF-8.

    A UTF-8 byte order mark is dropped.

    Returns:
        The text (``None`` when problems were found) and the problems.
    """
    if len(data) > MAX_FILE_BYTES:
        return None, [oversize_problem(len(data), file)]
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), []
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                f"file is not valid UTF-8: byte {data[exc.start]:#04x} at offset {exc.start}",
                file,
                line,
                column,
                expected="UTF-8 text",
                hint="re-save the file as UTF-8",
            )
        ]
