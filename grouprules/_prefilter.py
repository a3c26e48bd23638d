"""Literal text that every match of a pattern contains, to skip hopeless regex calls.

A rule pattern is matched from the start of the name, so a name that does not
start with the pattern's literal prefix cannot match it. A ``no_weight_decay``
pattern is searched anywhere, so a name that does not contain the prefix cannot
match it. Checking that with ``str.startswith`` or ``in`` costs a fraction of a
``regex`` call with a timeout. Planning calls the regex only where the check
passes, so results and timeouts stay what the regex alone gives.

The scanner reads only the plainest syntax and stops at the first character it
is not sure about, so a prefix it returns is always safe to require. Whenever
it cannot tell, it returns ``""``, which every name starts with.
"""

from __future__ import annotations

import regex

__all__ = ["literal_prefix"]

#: Flags under which the characters of a pattern do not stand for themselves
#: (case folding, verbose whitespace and comments, fuzzy and reverse matching).
_UNSAFE_FLAGS = (
    regex.IGNORECASE
    | regex.FULLCASE
    | regex.VERBOSE
    | regex.REVERSE
    | regex.BESTMATCH
    | regex.ENHANCEMATCH
)
_METACHARACTERS = frozenset(".^$*+?{}[]|()\\")
_OPTIONAL_QUANTIFIERS = frozenset("*?{")


def _has_top_level_alternation(pattern: str) -> bool | None:
    """Return whether ``|`` occurs outside every group and class; None if unsure."""
    if "(?#" in pattern:
        # A comment may hold unbalanced parentheses, which would throw off the depth.
        return None
    depth = 0
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if char == "[":
                # A nested set (regex's version 1 syntax or a POSIX class) is not read here.
                return None
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            # A "]" right after "[" or "[^" is a literal member, not the end.
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False


def literal_prefix(pattern: str, flags: int) -> str:
    """Return text that every match of ``pattern`` starts with, or ``""`` when unsure.

    Args:
        pattern: The pattern as written.
        flags: The compiled pattern's ``flags``, which include inline flags
            such as ``(?i)`` wherever they stand.

    Returns:
        The literal prefix: plain characters and backslash-escaped punctuation
        up to the first other syntax, less a last character that a ``*``,
        ``?`` or ``{`` makes optional.

    Example:
        >>> literal_prefix(r"blocks\\.(?P<i>\\d+)\\.", 0)
        'blocks.'
        >>> literal_prefix(r"head\\.|neck\\.", 0)
        ''
    """
    if flags & _UNSAFE_FLAGS or _has_top_level_alternation(pattern) is not False:
        return ""

    prefix: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            # \d, \b, \x41, \1 and the like are classes, anchors or codes, not literals.
            if not escaped or escaped.isalnum() or not escaped.isascii():
                break
            literal, index = escaped, index + 2
        elif char in _METACHARACTERS:
            break
        else:
            literal, index = char, index + 1

        following = pattern[index : index + 1]
        if following in _OPTIONAL_QUANTIFIERS and following:
            break
        prefix.append(literal)
        if following == "+":
            break
    return "".join(prefix)
