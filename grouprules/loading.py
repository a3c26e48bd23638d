"""Reading rule files: YAML or TOML text to a compiled :class:`RuleSet`.

Rule files are untrusted input. YAML is read with PyYAML's safe loader, so no
tag constructs an object, and the tree is rebuilt here with limits on file size,
nesting depth and the number of values (which bounds YAML alias expansion).
Duplicate keys are errors. Every problem found is reported with
``file:line:column``, the key trail, the value, what was expected and a hint.
TOML carries no positions in the standard parser, so lines are found by
scanning the text for table headers and keys, and fall back to the key trail.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import regex
import yaml
from pydantic import ValidationError

from .errors import Problem, RuleFileError
from .expressions import parse_layer_expression
from .matching import CompiledRule, RuleSet
from .packs import resolve_rules
from .schema import HEAD, SCHEMA_VERSION, Expect, NoWeightDecay, Rule, RuleFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python < 3.11
    import tomli as tomllib

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "load_rules", "loads_rules"]

#: Largest rule file accepted, in bytes.
MAX_FILE_BYTES = 1_048_576
#: Deepest nesting of mappings and lists accepted.
MAX_DEPTH = 32
#: Most values (scalars, mappings and lists, aliases counted each time used) accepted.
MAX_VALUES = 100_000

_Positions = dict[str, tuple[int, int]]

_FIELDS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "": tuple(RuleFile.model_fields),
    "rules": tuple(Rule.model_fields),
    "no_weight_decay": tuple(NoWeightDecay.model_fields),
    "expect": tuple(Expect.model_fields),
}

_EXPECTED_BY_ERROR_TYPE = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "literal_error": f"schema_version: {SCHEMA_VERSION}",
    "greater_than": "a larger number",
    "greater_than_equal": "a larger number",
    "less_than_equal": "a smaller number",
    "too_short": "at least one entry",
}


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-5`` as a float.

    YAML 1.1 requires a dot in a float, so PyYAML reads ``1e-5`` as a string;
    rule files write weight decays that way, so this loader accepts it.
    """


_SafeLoader.add_implicit_resolver(
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


def _format_trail(loc: Iterable[str | int]) -> str:
    trail = ""
    for part in loc:
        if isinstance(part, int):
            trail += f"[{part}]"
        else:
            trail += f".{part}" if trail else str(part)
    return trail


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _YamlTree:
    """Rebuilds PyYAML's node tree as plain data and records where each key sits."""

    def __init__(self, loader: _SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: _Positions = {}
        self.problems: list[Problem] = []
        self.values = 0

    def _problem(self, node: yaml.Node, trail: str, message: str, **extra: Any) -> None:
        mark = node.start_mark
        self.problems.append(
            Problem(message, self.file, mark.line + 1, mark.column + 1, trail, **extra)
        )

    def build(self, node: yaml.Node, trail: str, depth: int) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Abort(
                self._abort_problem(
                    node,
                    trail,
                    f"the file expands to more than {MAX_VALUES} values",
                    "YAML aliases (*name) that repeat an anchor many times, or a far smaller file",
                )
            )
        if depth > MAX_DEPTH:
            raise _Abort(
                self._abort_problem(
                    node, trail, f"nesting is deeper than {MAX_DEPTH} levels", "a flatter file"
                )
            )
        mark = node.start_mark
        self.positions.setdefault(trail, (mark.line + 1, mark.column + 1))

        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, trail, depth)
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, f"{trail}[{index}]", depth + 1)
                for index, item in enumerate(node.value)
            ]
        return self.loader.construct_object(node, deep=True)

    def _abort_problem(self, node: yaml.Node, trail: str, message: str, fix: str) -> Problem:
        mark = node.start_mark
        return Problem(
            message,
            self.file,
            mark.line + 1,
            mark.column + 1,
            trail,
            expected="a rule file of a few hundred lines",
            hint=f"remove {fix}",
        )

    def _mapping(self, node: yaml.MappingNode, trail: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                self._problem(
                    key_node,
                    trail,
                    "mapping key is not a string",
                    value=_short_repr(key),
                    expected="a key name such as `pattern`",
                    hint="quote the key or fix the indentation",
                )
                continue
            child = f"{trail}.{key}" if trail else key
            if key in result:
                first_line = self.positions.get(f"key:{child}", (0, 0))[0]
                self._problem(
                    key_node,
                    child,
                    f"duplicate key {key!r}, first set on line {first_line}",
                    value=_short_repr(key),
                    expected="each key once per mapping",
                    hint="delete one of the two entries; a later key would not replace "
                    "the earlier one silently",
                )
                continue
            key_mark = key_node.start_mark
            self.positions[f"key:{child}"] = (key_mark.line + 1, key_mark.column + 1)
            result[key] = self.build(value_node, child, depth + 1)
        return result


class _Abort(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _parse_yaml(text: str, file: str) -> tuple[Any, _Positions, list[Problem]]:
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        tree = _YamlTree(loader, file)
        data = tree.build(node, "", 0)
        return data, tree.positions, tree.problems
    except _Abort as abort:
        return None, {}, [abort.problem]
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
        return None, {}, [Problem(f"invalid YAML: {exc}", file)]
    except RecursionError:
        return (
            None,
            {},
            [
                Problem(
                    f"nesting is deeper than {MAX_DEPTH} levels",
                    file,
                    expected="a rule file of a few hundred lines",
                    hint="remove the deeply nested brackets",
                )
            ],
        )
    finally:
        loader.dispose()


_TOML_HEADER = regex.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = regex.compile(r"^\s*([A-Za-z0-9_.\"'-]+?)\s*=")


def _toml_positions(text: str) -> _Positions:
    positions: _Positions = {}
    prefix = ""
    array_counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_HEADER.match(line)
        if header:
            name = header.group(2).replace('"', "").replace("'", "")
            if header.group(1) == "[[":
                index = array_counts.get(name, 0)
                array_counts[name] = index + 1
                prefix = f"{name}[{index}]"
            else:
                prefix = name
            positions.setdefault(prefix, (number, line.index("[") + 1))
            continue
        key = _TOML_KEY.match(line)
        if key:
            name = key.group(1).replace('"', "").replace("'", "")
            trail = f"{prefix}.{name}" if prefix else name
            positions.setdefault(trail, (number, key.start(1) + 1))
            positions.setdefault(f"key:{trail}", (number, key.start(1) + 1))
    return positions


def _parse_toml(text: str, file: str) -> tuple[Any, _Positions, list[Problem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = regex.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(found.group(1)) if found else None
        column = int(found.group(2)) if found else None
        return (
            None,
            {},
            [
                Problem(
                    f"invalid TOML: {str(exc).split(' (at line')[0]}",
                    file,
                    line,
                    column,
                    expected="a TOML document",
                    hint="check quoting and that no key is set twice",
                )
            ],
        )
    except RecursionError:
        return None, {}, [Problem(f"nesting is deeper than {MAX_DEPTH} levels", file)]
    problems = _check_depth(data, file)
    return (None if problems else data), _toml_positions(text), problems


def _check_depth(data: Any, file: str) -> list[Problem]:
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_VALUES:
            limit = (
                f"nesting is deeper than {MAX_DEPTH} levels"
                if depth > MAX_DEPTH
                else (f"the file holds more than {MAX_VALUES} values")
            )
            return [Problem(limit, file, hint="write a smaller, flatter file")]
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return []


def _oversize_problem(size: int, file: str) -> Problem:
    return Problem(
        f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES}",
        file,
        expected=f"at most {MAX_FILE_BYTES} bytes",
        hint="rule files are a few kilobytes; check that this is the right file",
    )


def _decode(data: bytes, file: str) -> tuple[str | None, list[Problem]]:
    if len(data) > MAX_FILE_BYTES:
        return None, [_oversize_problem(len(data), file)]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
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


def _validation_problems(exc: ValidationError, file: str, positions: _Positions) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        trail = _format_trail(loc)
        ctx = error.get("ctx") or {}
        kind = error["type"]
        expected = ctx.get("expected") or _EXPECTED_BY_ERROR_TYPE.get(kind)
        hint = ctx.get("hint")
        value: str | None = _short_repr(error["input"])
        message = error["msg"]

        if kind == "extra_forbidden":
            parent = _format_trail(loc[:-1])
            model_key = regex.sub(r"\[\d+\]", "", parent)
            known = _FIELDS_BY_MODEL.get(model_key, ())
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            message = f"unknown key {str(loc[-1])!r}"
            expected = "one of: " + ", ".join(known)
            hint = f"did you mean {close[0]!r}?" if close else "remove the key"
            position = positions.get(f"key:{trail}") or positions.get(trail)
        elif kind == "missing":
            message = f"required key {str(loc[-1])!r} is missing"
            value = None
            hint = f"add `{loc[-1]}:` to this mapping"
            position = _nearest(positions, _format_trail(loc[:-1]))
        else:
            position = _nearest(positions, trail)

        line, column = position if position else (None, None)
        problems.append(Problem(message, file, line, column, trail, value, expected, hint))
    return problems


def _nearest(positions: _Positions, trail: str) -> tuple[int, int] | None:
    probe = trail
    while True:
        if probe in positions:
            return positions[probe]
        if not probe:
            return None
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""


def _check_schema_version(data: Any, file: str, positions: _Positions) -> list[Problem]:
    if not isinstance(data, dict):
        return [
            Problem(
                "the file is not a mapping of keys to values",
                file,
                1,
                1,
                value=_short_repr(data),
                expected=f"a mapping that starts with `schema_version: {SCHEMA_VERSION}`",
                hint="see docs/rule-files.md for the layout",
            )
        ]
    if "schema_version" not in data:
        return [
            Problem(
                "required key 'schema_version' is missing",
                file,
                1,
                1,
                "schema_version",
                expected=f"schema_version: {SCHEMA_VERSION}",
                hint=f"add `schema_version: {SCHEMA_VERSION}` as the first line",
            )
        ]
    version = data["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        line, column = positions.get("schema_version", (None, None))
        return [
            Problem(
                "unsupported schema_version",
                file,
                line,
                column,
                "schema_version",
                _short_repr(version),
                f"schema_version: {SCHEMA_VERSION}",
                "this grouprules release reads version 1 files; upgrade grouprules "
                "or rewrite the file for version 1",
            )
        ]
    return []


def _compile(spec: RuleFile, file: str, positions: _Positions) -> tuple[RuleSet, list[Problem]]:
    problems: list[Problem] = []
    rules = []
    head_id = spec.num_layers + 1
    for index, rule in enumerate(spec.rules):
        trail = f"rules[{index}].layer"
        line, column = _nearest(positions, trail) or (None, None)
        compiled = regex.compile(rule.pattern)
        layer: Any
        if isinstance(rule.layer, int):
            layer = rule.layer
            if not 0 <= layer <= head_id:
                problems.append(
                    Problem(
                        f"layer id {layer} is outside 0..{head_id}",
                        file,
                        line,
                        column,
                        trail,
                        _short_repr(rule.layer),
                        f"an id from 0 to num_layers + 1 = {head_id}",
                        "raise num_layers, or write `head` for the head id",
                    )
                )
        elif rule.layer.strip() == HEAD:
            layer = head_id
        else:
            layer = parse_layer_expression(rule.layer)
            captures = set(compiled.groupindex)
            missing = sorted(layer.names - captures - {"num_layers", "head"})
            if missing:
                available = ", ".join(sorted(captures)) or "none"
                problems.append(
                    Problem(
                        f"layer expression reads {', '.join(missing)}, which the pattern "
                        "does not capture",
                        file,
                        line,
                        column,
                        trail,
                        _short_repr(rule.layer),
                        f"names among the pattern's named captures ({available}), "
                        "num_layers or head",
                        f"capture it in the pattern, as in (?P<{missing[0]}>\\d+)",
                    )
                )
        rules.append(
            CompiledRule(
                index=index,
                label=rule.name or f"rules[{index}]",
                pattern=rule.pattern,
                compiled=compiled,
                layer=layer,
                weight_decay=rule.weight_decay,
                lr_mult=rule.lr_mult,
                wd_mult=rule.wd_mult,
            )
        )
    no_decay = tuple((pattern, regex.compile(pattern)) for pattern in spec.no_weight_decay.names)
    public_positions = {
        trail: pos for trail, pos in positions.items() if not trail.startswith("key:")
    }
    return RuleSet(spec, file, tuple(rules), no_decay, public_positions), problems


def _guess_format(file: str, text: str) -> str:
    suffix = Path(file).suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return "toml" if regex.match(r"^(\[|[A-Za-z_][\w-]*\s*=)", first) else "yaml"


def loads_rules(text: str | bytes, *, source: str = "<string>", fmt: str | None = None) -> RuleSet:
    """Parse, validate and compile rule file text.

    Args:
        text: The rule file's content.
        source: Name used in error locations, usually the file path.
        fmt: ``"yaml"`` or ``"toml"``; guessed from ``source`` and the text when ``None``.

    Returns:
        The compiled rule set.

    Raises:
        RuleFileError: The text is not a valid rule file; the error lists every
            problem found, each with its location.

    Example:
        >>> rules = loads_rules('''
        ... schema_version: 1
        ... name: tiny
        ... num_layers: 1
        ... layer_decay: 0.5
        ... rules:
        ...   - {pattern: 'embed\\.', layer: 0}
        ...   - {pattern: 'head\\.', layer: head}
        ... ''')
        >>> rules.head_id
        2
    """
    if isinstance(text, bytes):
        decoded, problems = _decode(text, source)
        if decoded is None:
            raise RuleFileError(problems)
        text = decoded
    elif len(text) > MAX_FILE_BYTES:
        raise RuleFileError([_oversize_problem(len(text), source)])

    chosen = fmt or _guess_format(source, text)
    if chosen == "toml":
        data, positions, problems = _parse_toml(text, source)
    elif chosen == "yaml":
        data, positions, problems = _parse_yaml(text, source)
    else:
        raise ValueError(f"fmt must be 'yaml' or 'toml', not {fmt!r}")
    if problems:
        raise RuleFileError(problems)

    problems = _check_schema_version(data, source, positions)
    if problems:
        raise RuleFileError(problems)

    try:
        spec = RuleFile.model_validate(data)
    except ValidationError as exc:
        problems = _validation_problems(exc, source, positions)
        problems.sort(key=lambda problem: (problem.line or 0, problem.column or 0))
        raise RuleFileError(problems) from None

    rule_set, problems = _compile(spec, source, positions)
    if problems:
        raise RuleFileError(problems)
    return rule_set


def load_rules(path: str | Path) -> RuleSet:
    """Read, validate and compile a rule file.

    Args:
        path: A ``.yaml``, ``.yml`` or ``.toml`` file, or the name of a bundled
            pack (``convnext``) when no such file exists.

    Returns:
        The compiled rule set, with :attr:`RuleSet.source` set to the path read.

    Raises:
        RuleFileError: The file cannot be read or is not a valid rule file.
    """
    path = resolve_rules(path)
    file = str(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise RuleFileError([_oversize_problem(size, file)])
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RuleFileError(
            [
                Problem(
                    f"cannot read the rule file: {exc.strerror or exc}",
                    file,
                    hint="check the path; bundled packs are listed by `grouprules list-rules`",
                )
            ]
        ) from None
    return loads_rules(data, source=file)
