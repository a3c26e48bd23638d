"""Compiling rule file patterns with bounded cost.

Rule files are untrusted, and compiling a regular expression is not free: the
``regex`` package unrolls counted repeats when it compiles, so the 20-character
pattern ``(?:a{60000}){60000}`` would need billions of nodes and can exhaust
memory before any timeout applies. So before a pattern is compiled, its length,
its group nesting and its *repeat weight* are checked. The repeat weight counts
each literal, escape, class or group once, multiplied by the upper bound of
every counted repeat (``{m}``, ``{m,n}``, ``{m,}``) around it. ``*``, ``+`` and
``?`` do not multiply, because the engine does not unroll them. The estimate
is conservative: it also counts characters inside comments.

Matching time is bounded separately, by the ``regex`` timeout in
:mod:`grouprules.matching`.
"""

from __future__ import annotations

import regex

__all__ = [
    "MAX_GROUP_DEPTH",
    "MAX_PATTERN_LENGTH",
    "MAX_REPEAT_WEIGHT",
    "PatternError",
    "compile_pattern",
]

#: Maximum pattern length accepted, in characters.
MAX_PATTERN_LENGTH = 4096
#: Maximum nesting of groups accepted.
MAX_GROUP_DEPTH = 64
#: Maximum repeat weight accepted (see the module docstring). Parameter names are
#: a few hundred characters long, so no useful pattern comes near it.
MAX_REPEAT_WEIGHT = 100_000

_COUNTED_REPEAT = regex.compile(r"\{(\d*)(?:(,)(\d*))?\}")
# Escapes that take a bracketed argument, such as \N{name}, \p{L} or \g<name>.
_BRACED_ESCAPE = regex.compile(r"\\(?:[NpPxuUX]\{[^}]*\}|[gL]<[^>]*>)")


class PatternError(ValueError):
    """A pattern cannot be compiled, or would cost too much to compile.

    Attributes:
        reason: What is wrong, as a phrase.
        hint: How to fix it.
    """

    def __init__(self, reason: str, hint: str) -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(reason)


def _class_end(pattern: str, start: int) -> int:
    """Return the index just past the character class that opens at ``start``."""
    index = start + 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    # A `]` right after the opening bracket is a literal.
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    depth = 1
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            # The regex package's version 1 syntax nests classes, as in [[a-z]--[aeiou]].
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(pattern)


def _repeat_weight(pattern: str) -> int:
    """Return the repeat weight of ``pattern`` (see the module docstring).

    Raises:
        PatternError: Groups nest deeper than :data:`MAX_GROUP_DEPTH`.
    """
    # One running sum per open group; `last` is the weight of the item that a
    # following quantifier would repeat.
    sums = [0]
    last = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        repeat = _COUNTED_REPEAT.match(pattern, index) if char == "{" else None
        if repeat is not None and last:
            low, _, high = repeat.groups()
            # {m,n} and {,n} unroll n copies, {m} and {m,} unroll m.
            factor = max(int(high or low or 1), 1)
            # Capped, so that nested huge counts stay small integers.
            repeated = min(last * factor, MAX_REPEAT_WEIGHT + 1)
            sums[-1] += repeated - last
            last = repeated
            index = repeat.end()
            continue

        if char == "(":
            sums.append(0)
            if len(sums) - 1 > MAX_GROUP_DEPTH:
                raise PatternError(
                    f"groups nest deeper than {MAX_GROUP_DEPTH} levels",
                    "flatten the pattern; parameter names need only a few groups",
                )
            last = 0
            index += 1
            continue
        if char == ")" and len(sums) > 1:
            last = sums.pop() or 1
            sums[-1] += last
            index += 1
            continue

        if char == "[":
            end = _class_end(pattern, index)
        elif char == "\\":
            braced = _BRACED_ESCAPE.match(pattern, index)
            end = braced.end() if braced else index + 2
        else:
            end = index + 1
        last = 1
        sums[-1] += 1
        index = end
    return sum(sums)


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """Compile a rule file pattern after checking what compiling it would cost.

    Args:
        pattern: The pattern as written in the rule file.

    Returns:
        The compiled pattern.

    Raises:
        PatternError: The pattern is empty, too long, nests too deep, repeats
            too much or does not compile.

    Example:
        >>> compile_pattern(r"blocks\\.(?P<i>\\d+)\\.").match("blocks.3.weight")["i"]
        '3'
    """
    if not pattern:
        raise PatternError(
            "pattern is empty, so it matches every parameter",
            "write '.*' for an explicit catch-all",
        )
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(
            f"pattern is {len(pattern)} characters long, more than {MAX_PATTERN_LENGTH}",
            "split it into several rules",
        )
    weight = _repeat_weight(pattern)
    if weight > MAX_REPEAT_WEIGHT:
        raise PatternError(
            f"counted repeats such as {{1000}} would unroll to more than {MAX_REPEAT_WEIGHT} nodes",
            "use * or + instead of a large {m,n} count, and do not nest counted repeats",
        )
    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise PatternError(
            f"pattern does not compile: {exc}",
            "escape literal dots as `\\.` and check brackets and parentheses",
        ) from None
    except (RecursionError, OverflowError, MemoryError) as exc:
        raise PatternError(
            f"pattern does not compile: {type(exc).__name__}",
            "simplify the pattern",
        ) from None
