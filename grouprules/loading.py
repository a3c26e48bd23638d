"""Loading rule files: YAML or TOML text to a compiled :class:`RuleSet`.

The steps run in order, and each stops at its first failing step with every
problem that step found:

1. size and UTF-8 decoding, then YAML or TOML syntax (:mod:`grouprules.documents`,
   which reads untrusted files safely and with bounded cost);
2. ``schema_version``, checked before anything else so that a file written for
   another version gets one clear error rather than many;
3. the schema (:mod:`grouprules.schema`): unknown keys (with a did-you-mean),
   types, ranges, patterns and layer expression syntax;
4. checks that span keys: layer ids within ``0..num_layers + 1``, layer
   expressions that read only the pattern's captures, unique rule names.

Every problem carries ``file:line:column`` (TOML may fall back to the nearest
key found), the key trail such as ``rules[3].layer``, the value, what was
expected and a hint.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import regex
from pydantic import ValidationError

from ._quoting import format_value, quoted
from .documents import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    Positions,
    decode,
    oversize_problem,
    parse_toml,
    parse_yaml,
)
from .errors import ArgumentError, Problem, RuleFileError
from .expressions import LayerExpression, parse_layer_expression
from .matching import CompiledRule, RuleSet
from .packs import resolve_rules
from .patterns import compile_pattern
from .schema import HEAD, SCHEMA_VERSION, Expect, NoWeightDecay, Rule, RuleFile

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "load_rules", "loads_rules"]

#: Names a layer expression may read besides the pattern's captures.
RESERVED_NAMES = frozenset({"num_layers", HEAD})

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
    "finite_number": "a finite number",
    "literal_error": f"schema_version: {SCHEMA_VERSION}",
    "too_short": "at least one entry",
}

_HINT_BY_ERROR_TYPE = {
    "too_short": "add at least one entry",
    "finite_number": "write a finite number; .inf and .nan are not allowed",
}


def _format_trail(loc: Iterable[str | int]) -> str:
    trail = ""
    for part in loc:
        if isinstance(part, int):
            trail += f"[{part}]"
        else:
            trail += f".{part}" if trail else str(part)
    return trail


def _expected(kind: str, ctx: dict[str, Any]) -> str | None:
    if "expected" in ctx:
        return str(ctx["expected"])
    if kind == "greater_than":
        return f"a number greater than {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"a number of at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"a number of at most {ctx['le']}"
    return _EXPECTED_BY_ERROR_TYPE.get(kind)


def _type_hint(kind: str, value: Any) -> str | None:
    if kind == "string_type" and isinstance(value, bool):
        return "quote the value: YAML reads yes, no, on, off, true and false as booleans"
    if kind == "string_type" and isinstance(value, (int, float)):
        return "quote the value to make it a string"
    if kind == "int_type" and isinstance(value, float):
        return "write a whole number without a decimal point"
    if kind in ("int_type", "float_type", "bool_type") and isinstance(value, str):
        return "remove the quotes around the value"
    return _HINT_BY_ERROR_TYPE.get(kind)


def _unknown_key(loc: tuple[str | int, ...]) -> tuple[str, str, str]:
    parent = _format_trail(loc[:-1])
    known = _FIELDS_BY_MODEL.get(regex.sub(r"\[\d+\]", "", parent), ())
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    message = f"unknown key {format_value(str(loc[-1]))}"
    expected = "one of: " + ", ".join(known)
    hint = f"did you mean {quoted(close[0])}?" if close else "remove the key"
    return message, expected, hint


def _validation_problems(exc: ValidationError, file: str, positions: Positions) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        trail = _format_trail(loc)
        ctx = error.get("ctx") or {}
        kind = error["type"]
        message = error["msg"]
        raw_value = error["input"]
        value: str | None = format_value(raw_value)
        expected = _expected(kind, ctx)
        hint = ctx.get("hint") or _type_hint(kind, error["input"])
        if hint is None and expected is not None:
            hint = f"write {expected}"

        if kind == "model_type":
            message = "Input should be a mapping of keys to values"
        if kind == "extra_forbidden":
            message, expected, hint = _unknown_key(loc)
            position = positions.get(f"key:{trail}") or positions.get(trail)
        elif kind == "missing":
            message = f"required key {quoted(str(loc[-1]))} is missing"
            value = raw_value = None
            hint = f"add the key `{loc[-1]}` to this mapping"
            position = _nearest(positions, _format_trail(loc[:-1]))
        else:
            position = _nearest(positions, trail)

        line, column = position if position else (None, None)
        # The trail is shortened only after it located the problem.
        trail = trail if len(trail) <= 200 else trail[:197] + "..."
        problems.append(
            Problem(message, file, line, column, trail, value, expected, hint, raw_value)
        )
    return problems


def _nearest(positions: Positions, trail: str) -> tuple[int, int] | None:
    probe = trail
    while True:
        if probe in positions:
            return positions[probe]
        if not probe:
            return None
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""


def _check_schema_version(data: Any, file: str, positions: Positions) -> list[Problem]:
    if not isinstance(data, dict):
        return [
            Problem(
                "the file is not a mapping of keys to values",
                file,
                1,
                1,
                value=format_value(data),
                raw_value=data,
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
                format_value(version),
                f"schema_version: {SCHEMA_VERSION}",
                f"this grouprules release reads version {SCHEMA_VERSION} files; upgrade "
                f"grouprules or rewrite the file for version {SCHEMA_VERSION}",
                raw_value=version,
            )
        ]
    return []


class _Checker:
    """Collects the problems that span several keys of one validated rule file."""

    def __init__(self, spec: RuleFile, file: str, positions: Positions) -> None:
        self.spec = spec
        self.file = file
        self.positions = positions
        self.head_id = spec.num_layers + 1
        self.problems: list[Problem] = []

    def add(self, trail: str, message: str, value: Any, expected: str, hint: str) -> None:
        line, column = _nearest(self.positions, trail) or (None, None)
        self.problems.append(
            Problem(
                message, self.file, line, column, trail, format_value(value), expected, hint, value
            )
        )

    def fixed_layer(self, index: int, layer: int) -> None:
        if not 0 <= layer <= self.head_id:
            self.add(
                f"rules[{index}].layer",
                f"layer id {layer} is outside 0..{self.head_id}",
                layer,
                f"an id from 0 to num_layers + 1 = {self.head_id}",
                "raise num_layers, or write `head` for the head id",
            )

    def expression(self, index: int, text: str, compiled: regex.Pattern[str]) -> LayerExpression:
        trail = f"rules[{index}].layer"
        expression = parse_layer_expression(text)
        captures = set(compiled.groupindex)
        shadowed = sorted(captures & RESERVED_NAMES)
        if shadowed:
            self.add(
                f"rules[{index}].pattern",
                f"the pattern captures {quoted(shadowed[0])}, a name reserved for layer "
                "expressions",
                self.spec.rules[index].pattern,
                "capture names other than num_layers and head",
                f"rename the capture, as in (?P<{shadowed[0]}_index>\\d+)",
            )
        missing = sorted(expression.names - captures - RESERVED_NAMES)
        if missing:
            available = ", ".join(sorted(captures)) or "none"
            self.add(
                trail,
                f"layer expression reads {', '.join(missing)}, which the pattern does not capture",
                text,
                f"names among the pattern's named captures ({available}), num_layers or head",
                f"capture it in the pattern, as in (?P<{missing[0]}>\\d+)",
            )
        elif not expression.names - RESERVED_NAMES:
            self._constant(trail, expression)
        return expression

    def _constant(self, trail: str, expression: LayerExpression) -> None:
        # An expression without captures gives one id for every name, so check it now.
        env = {"num_layers": self.spec.num_layers, HEAD: self.head_id}
        try:
            layer = expression.evaluate(env)
        except ZeroDivisionError:
            self.add(
                trail,
                "layer expression divides by zero",
                expression.source,
                "an expression with a non-zero divisor",
                "fix the divisor",
            )
            return
        if not 0 <= layer <= self.head_id:
            self.add(
                trail,
                f"layer expression gives layer id {layer}, outside 0..{self.head_id}",
                expression.source,
                f"an id from 0 to num_layers + 1 = {self.head_id}",
                "raise num_layers, or write `head` for the head id",
            )

    def unique_names(self) -> None:
        first: dict[str, int] = {}
        for index, rule in enumerate(self.spec.rules):
            if rule.name is None:
                continue
            if rule.name in first:
                self.add(
                    f"rules[{index}].name",
                    f"rule name {quoted(rule.name)} is already used by rules[{first[rule.name]}]",
                    rule.name,
                    "a name no other rule has",
                    "give each rule its own name; reports and findings refer to rules by name",
                )
            first.setdefault(rule.name, index)


def _compile(spec: RuleFile, file: str, positions: Positions) -> tuple[RuleSet, list[Problem]]:
    checker = _Checker(spec, file, positions)
    rules = []
    for index, rule in enumerate(spec.rules):
        compiled = compile_pattern(rule.pattern)
        layer: int | LayerExpression
        if isinstance(rule.layer, int):
            layer = rule.layer
            checker.fixed_layer(index, layer)
        elif rule.layer.strip() == HEAD:
            layer = checker.head_id
        else:
            layer = checker.expression(index, rule.layer, compiled)
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
                source=file,
                pattern_position=_nearest(positions, f"rules[{index}].pattern"),
                layer_position=_nearest(positions, f"rules[{index}].layer"),
            )
        )
    checker.unique_names()

    no_decay = tuple((pattern, compile_pattern(pattern)) for pattern in spec.no_weight_decay.names)
    public_positions = {
        trail: pos for trail, pos in positions.items() if not trail.startswith("key:")
    }
    return RuleSet(spec, file, tuple(rules), no_decay, public_positions), checker.problems


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
        text: The rule file's content; bytes must be UTF-8.
        source: Name used in error locations, usually the file path.
        fmt: ``"yaml"`` or ``"toml"``; guessed from ``source`` and the text when ``None``.

    Returns:
        The compiled rule set.

    Raises:
        RuleFileError: The text is not a valid rule file; the error lists every
            problem found at the first failing step, each with its location.
        ArgumentError: ``fmt`` is neither ``"yaml"`` nor ``"toml"``.

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
    if fmt not in (None, "yaml", "toml"):
        raise ArgumentError(f"fmt must be 'yaml', 'toml' or None, not {fmt!r}")
    decoded, problems = decode(text, source)
    if decoded is None:
        raise RuleFileError(problems)

    chosen = fmt or _guess_format(source, decoded)
    parse = parse_toml if chosen == "toml" else parse_yaml
    data, positions, problems = parse(decoded, source)
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

    Example:
        >>> load_rules("convnext").spec.num_layers
        12
    """
    path = resolve_rules(path)
    file = str(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise RuleFileError([oversize_problem(size, file)])
            # Read one byte past the limit, so that a file that grows (or a
            # device that reports size 0) is still caught by decode().
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
