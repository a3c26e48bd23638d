"""Structural reading of patterns, for the static checks in :mod:`grouprules.lint`.

Patterns are parsed with the standard library's regular-expression parser
(``re._parser``; ``sre_parse`` before Python 3.11). It reads the syntax that the
``regex`` package shares with ``re``. A pattern that uses syntax only ``regex``
supports, such as ``\\p{L}`` or fuzzy matching, does not parse, and the functions
here then return ``None`` so that the caller skips that check.

Parameter names never contain a newline, so ``^`` and ``$`` are read as the
start and the end of the name, with or without ``(?m)``.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from itertools import product
from typing import Any

if sys.version_info >= (3, 11):
    import re._constants as _sre
    import re._parser as _parser
else:  # pragma: no cover - exercised only on Python 3.10
    import sre_constants as _sre
    import sre_parse as _parser

__all__ = [
    "PatternTree",
    "capture_values",
    "glob_translation",
    "impossible_anchor",
    "literal_prefix",
    "parse_pattern",
    "plain_word",
    "shadow_prefix",
]

#: Largest set of values :func:`capture_values` enumerates before it gives up.
MAX_CAPTURE_VALUES = 1000

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# Characters of MindSpore parameter names; a pattern whose first required
# character accepts all of them accepts the first character of every name.
_NAME_CHARS = _WORD_CHARS | {".", "-"}
_BEGIN_ANCHORS = {_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING}
_END_ANCHORS = {_sre.AT_END, _sre.AT_END_STRING}
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT} | (
    {_sre.POSSESSIVE_REPEAT} if hasattr(_sre, "POSSESSIVE_REPEAT") else set()
)
_ATOMIC = getattr(_sre, "ATOMIC_GROUP", None)
_ASSERTIONS = {_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT, _sre.GROUPREF, _sre.GROUPREF_EXISTS}

_Items = Any  # a SubPattern, or a list of (op, argument) pairs


@dataclass(frozen=True)
class PatternTree:
    """A parsed pattern.

    Attributes:
        items: The top-level ``(op, argument)`` pairs.
        groups: Named captures and their group numbers.
        ignore_case: ``True`` when the whole pattern is case-insensitive.
    """

    items: _Items
    groups: dict[str, int]
    ignore_case: bool


def parse_pattern(pattern: str) -> PatternTree | None:
    """Parse ``pattern``, or return ``None`` when it uses syntax ``re`` lacks."""
    try:
        with warnings.catch_warnings():
            # `re` warns about syntax it may read differently later ("Possible nested set").
            warnings.simplefilter("ignore")
            tree = _parser.parse(pattern)
    except (re.error, ValueError, OverflowError, RecursionError):
        return None
    return PatternTree(
        items=tree,
        groups=dict(tree.state.groupdict),
        ignore_case=bool(tree.state.flags & re.IGNORECASE),
    )


def _min_width(items: _Items) -> int:
    total = 0
    for op, argument in items:
        if op in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN):
            total += 1
        elif op == _sre.SUBPATTERN:
            total += _min_width(argument[3])
        elif op == _ATOMIC:
            total += _min_width(argument)
        elif op == _sre.BRANCH:
            total += min(_min_width(branch) for branch in argument[1])
        elif op in _REPEATS:
            total += argument[0] * _min_width(argument[2])
        elif op == _sre.GROUPREF_EXISTS:
            no_branch = argument[2]
            total += min(_min_width(argument[1]), _min_width(no_branch) if no_branch else 0)
    return total


def _impossible(items: _Items, consumed_before: bool, consumed_after: bool) -> str | None:
    widths = [_min_width([item]) for item in items]
    for index, (op, argument) in enumerate(items):
        before = consumed_before or any(widths[:index])
        after = consumed_after or any(widths[index + 1 :])
        found: str | None = None
        if op == _sre.AT and argument in _BEGIN_ANCHORS and before:
            found = "a start anchor (^ or \\A) comes after a character that must match first"
        elif op == _sre.AT and argument in _END_ANCHORS and after:
            found = "an end anchor ($ or \\Z) comes before a character that must still match"
        elif op == _sre.SUBPATTERN:
            found = _impossible(argument[3], before, after)
        elif op == _ATOMIC:
            found = _impossible(argument, before, after)
        elif op in _REPEATS and argument[0] > 0:
            found = _impossible(argument[2], before, after)
        elif op == _sre.BRANCH:
            reasons = [_impossible(branch, before, after) for branch in argument[1]]
            if all(reasons):
                found = reasons[0]
        if found:
            return found
    return None


def impossible_anchor(tree: PatternTree) -> str | None:
    """Say why the pattern can match no name, or return ``None`` if it can match one.

    Only misplaced anchors are detected, such as ``a^b`` or ``$x``; a pattern
    that fails for another reason is not reported.
    """
    return _impossible(tree.items, False, False)


def _has_assertion(items: _Items) -> bool:
    for op, argument in items:
        if op in _ASSERTIONS:
            return True
        if op == _sre.SUBPATTERN and (argument[1] or argument[2] or _has_assertion(argument[3])):
            return True
        if op == _ATOMIC and _has_assertion(argument):
            return True
        if op in _REPEATS and _has_assertion(argument[2]):
            return True
        if op == _sre.BRANCH and any(_has_assertion(branch) for branch in argument[1]):
            return True
    return False


def _accepts_any_name_char(op: Any, argument: Any) -> bool:
    if op == _sre.ANY:
        return True
    if op != _sre.IN:
        return False
    return all(_class_accepts(argument, char) for char in _NAME_CHARS)


def _class_accepts(members: Any, char: str) -> bool:
    code = ord(char)
    negate = False
    hit = False
    for op, argument in members:
        if op == _sre.NEGATE:
            negate = True
        elif op == _sre.LITERAL:
            hit = hit or argument == code
        elif op == _sre.RANGE:
            hit = hit or argument[0] <= code <= argument[1]
        elif op == _sre.CATEGORY:
            hit = hit or _category_accepts(argument, char)
        else:
            return False
    return hit != negate


def _category_accepts(category: Any, char: str) -> bool:
    digit = char.isdigit()
    word = char.isalnum() or char == "_"
    space = char.isspace()
    results = {
        _sre.CATEGORY_DIGIT: digit,
        _sre.CATEGORY_NOT_DIGIT: not digit,
        _sre.CATEGORY_WORD: word,
        _sre.CATEGORY_NOT_WORD: not word,
        _sre.CATEGORY_SPACE: space,
        _sre.CATEGORY_NOT_SPACE: not space,
    }
    return bool(results.get(category, False))


def _leading_literal(items: _Items) -> tuple[str, int]:
    text = ""
    for index, (op, argument) in enumerate(items):
        if op == _sre.LITERAL:
            text += chr(argument)
        elif op == _sre.IN and len(argument) == 1 and argument[0][0] == _sre.LITERAL:
            text += chr(argument[0][1])
        else:
            return text, index
    return text, len(items)


def literal_prefix(tree: PatternTree) -> str | None:
    """Return the literal text every match starts with, or ``None`` if case is ignored."""
    if tree.ignore_case:
        return None
    return _leading_literal(tree.items)[0]


def shadow_prefix(tree: PatternTree) -> tuple[str, bool] | None:
    """Return ``(prefix, needs_more)`` when the pattern matches every name with ``prefix``.

    ``needs_more`` is ``True`` when the name must go on past the prefix by at
    least one character, as for ``head.+``. Returns ``None`` when the pattern
    is more selective than a literal prefix, or ignores case.
    """
    if tree.ignore_case:
        return None
    prefix, index = _leading_literal(tree.items)
    rest = list(tree.items[index:])
    if _has_assertion(rest):
        return None
    if _min_width(rest) == 0:
        return prefix, False

    # One required character of any kind, then anything: `.+`, `.*.`, `[\s\S]+` and the like.
    first_op, first_argument = rest[0]
    if first_op in _REPEATS and first_argument[0] == 1:
        inner = list(first_argument[2])
        if len(inner) == 1 and _accepts_any_name_char(*inner[0]) and _min_width(rest[1:]) == 0:
            return prefix, True
    if _accepts_any_name_char(first_op, first_argument) and _min_width(rest[1:]) == 0:
        return prefix, True
    return None


def plain_word(tree: PatternTree) -> str | None:
    """Return the pattern's text when it is one bare word, such as ``bn`` or ``norm``."""
    text, index = _leading_literal(tree.items)
    if index != len(tree.items) or not text or not set(text) <= _WORD_CHARS:
        return None
    return text


def _digit_set(op: Any, argument: Any) -> frozenset[int] | None:
    if op == _sre.LITERAL and chr(argument).isdigit():
        return frozenset({int(chr(argument))})
    if op == _sre.IN:
        digits = frozenset(int(c) for c in "0123456789" if _class_accepts(argument, c))
        return digits or None
    return None


def _values(items: _Items) -> frozenset[int] | None:
    # Each entry is the set of digit strings the items can match, kept as text
    # so that "0" "7" concatenates to "07" before conversion.
    texts: set[str] = {""}
    for op, argument in items:
        if op == _sre.SUBPATTERN:
            part = _values(argument[3])
            options = None if part is None else {str(value) for value in part}
        elif op == _sre.BRANCH:
            branches = [_values(branch) for branch in argument[1]]
            if any(branch is None for branch in branches):
                return None
            options = {str(value) for branch in branches for value in branch or ()}
        elif op in _REPEATS:
            low, high, inner = argument
            if high > 3 or len(inner) != 1 or _digit_set(*inner[0]) is None:
                return None
            # Any digit string of low..high digits; the leading digit set is ignored.
            options = (
                {"", *map(str, range(10**high))} if low == 0 else set(map(str, range(10**high)))
            )
        else:
            digits = _digit_set(op, argument)
            options = None if digits is None else {str(digit) for digit in digits}
        if options is None:
            return None
        texts = {left + right for left, right in product(texts, options)}
        if len(texts) > MAX_CAPTURE_VALUES:
            return None
    values = frozenset(int(text) for text in texts if text)
    return values or None


def _find_group(items: _Items, number: int) -> _Items | None:
    for op, argument in items:
        children: list[_Items] = []
        if op == _sre.SUBPATTERN:
            if argument[0] == number:
                return argument[3]
            children = [argument[3]]
        elif op == _ATOMIC:
            children = [argument]
        elif op in _REPEATS:
            children = [argument[2]]
        elif op == _sre.BRANCH:
            children = list(argument[1])
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            children = [argument[1]]
        for child in children:
            found = _find_group(child, number)
            if found is not None:
                return found
    return None


def capture_values(tree: PatternTree, name: str) -> frozenset[int] | None:
    """Return every integer the named capture can hold, or ``None`` if unbounded.

    A capture such as ``[0-5]``, ``\\d{1,2}`` or ``1[0-2]|\\d`` gives its
    values; ``\\d+`` and anything not made of digits give ``None``.
    """
    number = tree.groups.get(name)
    if number is None:
        return None
    group = _find_group(tree.items, number)
    return None if group is None else _values(group)


def glob_translation(pattern: str, *, search: bool) -> str | None:
    """Return the regular expression a glob-looking ``pattern`` probably means.

    A pattern looks like a glob when it starts with ``*`` or ``?``, or contains an
    unescaped ``.*.`` (``blocks.*.weight``), or when it has no regular-expression
    syntax besides ``.`` between words and ``.*`` (``model.layers.*``).

    Args:
        pattern: The pattern as written.
        search: ``True`` for a ``no_weight_decay.names`` pattern, which is
            searched anywhere, so the translation drops a leading ``.*``.

    Returns:
        The translation, or ``None`` when the pattern does not look like a glob.
    """
    starts_like_glob = pattern[:1] in ("*", "?")
    dot_star_dot = _has_unescaped(pattern, ".*.")
    plain = (
        "\\" not in pattern
        and not set("()[]{}+?|^$") & set(pattern)
        and "*" in pattern
        and all(pattern[index - 1] == "." for index, char in enumerate(pattern) if char == "*")
        and re.search(r"\w\.\w", pattern) is not None
    )
    if not (starts_like_glob or dot_star_dot or plain):
        return None

    translated = ""
    for char in pattern:
        if char == "*":
            translated += ".*"
        elif char == "?":
            translated += "."
        elif char == ".":
            translated += "\\."
        else:
            translated += char
    if search and translated.startswith(".*"):
        translated = translated[2:]
    if translated.endswith(".*"):
        return translated[:-2]
    return translated + "$"


def _has_unescaped(pattern: str, needle: str) -> bool:
    escaped = False
    in_class = False
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif not in_class and pattern.startswith(needle, index):
            return True
    return False
