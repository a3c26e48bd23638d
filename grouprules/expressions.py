"""Integer layer expressions such as ``3 + block // 3``.

A rule's ``layer`` may be integer arithmetic over the pattern's named captures.
The grammar is small and bounded, and expressions are parsed into a tree and
evaluated by this module, never by ``eval``::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "//" | "%") unary)*
    unary := "-" unary | atom
    atom  := INT | NAME | ("min" | "max") "(" expr ("," expr)* ")" | "(" expr ")"

Names are the pattern's named captures, plus ``num_layers`` and ``head``
(``num_layers + 1``). Integers only: ``//`` and ``%`` are floor division and
modulo as in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

import regex

from ._quoting import quoted

__all__ = ["ExpressionSyntaxError", "LayerExpression", "parse_layer_expression"]

#: Maximum length of an expression, in characters.
MAX_EXPRESSION_LENGTH = 256
#: Maximum nesting depth of parentheses, calls and unary minus.
MAX_EXPRESSION_DEPTH = 32
#: Maximum length of an integer literal, in digits.
MAX_LITERAL_DIGITS = 9

_FUNCTIONS = ("min", "max")
_TOKEN = regex.compile(r"\s*(?:(?P<int>\d+)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>//|[-+*%(),]))")


_GRAMMAR_HINT = (
    "use integers, the pattern's named captures, + - * // %, min(), max() and "
    "parentheses, as in '3 + block // 3'"
)


class ExpressionSyntaxError(ValueError):
    """A layer expression does not follow the grammar or exceeds a limit.

    Attributes:
        position: 0-based character offset of the error in the expression.
        hint: How to fix it.
    """

    def __init__(self, message: str, position: int, hint: str = _GRAMMAR_HINT) -> None:
        self.position = position
        self.hint = hint
        super().__init__(message)


@dataclass(frozen=True)
class _Int:
    value: int


@dataclass(frozen=True)
class _Name:
    name: str


@dataclass(frozen=True)
class _Neg:
    operand: _Node


@dataclass(frozen=True)
class _BinOp:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Call:
    function: str
    args: tuple[_Node, ...]


_Node = Union[_Int, _Name, _Neg, _BinOp, _Call]  # noqa: UP007 - a runtime alias


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.index = 0
        self.depth = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str, int]]:
        tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if match is None:
                offset = position + len(text[position:]) - len(text[position:].lstrip())
                raise ExpressionSyntaxError(
                    f"unexpected character {quoted(text[offset])} at position {offset + 1}", offset
                )
            kind = match.lastgroup
            assert kind is not None
            tokens.append((kind, match.group(kind), match.start(kind)))
            position = match.end()
        tokens.append(("end", "", len(text)))
        return tokens

    def _peek(self) -> tuple[str, str, int]:
        return self.tokens[self.index]

    def _take(self) -> tuple[str, str, int]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _expect(self, op: str) -> None:
        kind, value, position = self._take()
        if kind != "op" or value != op:
            found = "end of expression" if kind == "end" else quoted(value)
            raise ExpressionSyntaxError(
                f"expected {quoted(op)} at position {position + 1}, found {found}", position
            )

    def parse(self) -> _Node:
        node = self._expr()
        kind, value, position = self._peek()
        if kind != "end":
            raise ExpressionSyntaxError(
                f"unexpected {quoted(value)} at position {position + 1}", position
            )
        return node

    def _expr(self) -> _Node:
        node = self._term()
        while self._peek()[0] == "op" and self._peek()[1] in ("+", "-"):
            op = self._take()[1]
            node = _BinOp(op, node, self._term())
        return node

    def _term(self) -> _Node:
        node = self._unary()
        while self._peek()[0] == "op" and self._peek()[1] in ("*", "//", "%"):
            op = self._take()[1]
            node = _BinOp(op, node, self._unary())
        return node

    def _nest(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_EXPRESSION_DEPTH:
            raise ExpressionSyntaxError(
                f"expression nests deeper than {MAX_EXPRESSION_DEPTH} levels",
                position,
                "remove redundant parentheses and minus signs",
            )

    def _unary(self) -> _Node:
        kind, value, position = self._peek()
        if kind == "op" and value == "-":
            self._take()
            self._nest(position)
            node: _Node = _Neg(self._unary())
            self.depth -= 1
            return node
        return self._atom()

    def _atom(self) -> _Node:
        kind, value, position = self._take()
        if kind == "int":
            if len(value) > MAX_LITERAL_DIGITS:
                raise ExpressionSyntaxError(
                    f"integer literal longer than {MAX_LITERAL_DIGITS} digits",
                    position,
                    "layer ids are small integers; check the number",
                )
            return _Int(int(value))
        if kind == "name":
            if value in _FUNCTIONS and self._peek()[1] == "(":
                return self._call(value, position)
            return _Name(value)
        if kind == "op" and value == "(":
            self._nest(position)
            node = self._expr()
            self._expect(")")
            self.depth -= 1
            return node
        found = "end of expression" if kind == "end" else quoted(value)
        raise ExpressionSyntaxError(
            f"expected an integer, a name or '(' at position {position + 1}, found {found}",
            position,
        )

    def _call(self, function: str, position: int) -> _Node:
        self._expect("(")
        self._nest(position)
        args = [self._expr()]
        while self._peek()[1] == ",":
            self._take()
            args.append(self._expr())
        self._expect(")")
        self.depth -= 1
        return _Call(function, tuple(args))


def _names(node: _Node) -> set[str]:
    if isinstance(node, _Name):
        return {node.name}
    if isinstance(node, _Neg):
        return _names(node.operand)
    if isinstance(node, _BinOp):
        return _names(node.left) | _names(node.right)
    if isinstance(node, _Call):
        found: set[str] = set()
        for arg in node.args:
            found |= _names(arg)
        return found
    return set()


def _evaluate(node: _Node, env: Mapping[str, int]) -> int:
    if isinstance(node, _Int):
        return node.value
    if isinstance(node, _Name):
        return env[node.name]
    if isinstance(node, _Neg):
        return -_evaluate(node.operand, env)
    if isinstance(node, _Call):
        values = [_evaluate(arg, env) for arg in node.args]
        return min(values) if node.function == "min" else max(values)

    left = _evaluate(node.left, env)
    right = _evaluate(node.right, env)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if right == 0:
        raise ZeroDivisionError(f"{node.op} by zero")
    return left // right if node.op == "//" else left % right


@dataclass(frozen=True)
class LayerExpression:
    """A parsed layer expression.

    Attributes:
        source: The expression as written in the rule file.
        names: Every name the expression reads.

    Example:
        >>> expr = parse_layer_expression("3 + block // 3")
        >>> expr.evaluate({"block": 7})
        5
    """

    source: str
    names: frozenset[str]
    _tree: _Node

    def evaluate(self, env: Mapping[str, int]) -> int:
        """Compute the layer id for one set of captures.

        Args:
            env: Integer value of every name in :attr:`names`.

        Returns:
            The integer result.

        Raises:
            KeyError: A name is missing from ``env``.
            ZeroDivisionError: A ``//`` or ``%`` has a zero right operand.
        """
        return _evaluate(self._tree, env)


def parse_layer_expression(text: str) -> LayerExpression:
    """Parse ``text`` into a :class:`LayerExpression`.

    Args:
        text: The expression, such as ``"3 + block // 3"``.

    Returns:
        The parsed expression.

    Raises:
        ExpressionSyntaxError: ``text`` is too long, nests too deep or does not
            follow the grammar in this module's docstring.

    Example:
        >>> sorted(parse_layer_expression("min(i + 1, head)").names)
        ['head', 'i']
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(
            f"expression is {len(text)} characters long, more than {MAX_EXPRESSION_LENGTH}",
            0,
            "a layer id needs only a short expression over one or two captures",
        )
    if not text.strip():
        raise ExpressionSyntaxError("expression is empty", 0)
    tree = _Parser(text).parse()
    return LayerExpression(source=text, names=frozenset(_names(tree)), _tree=tree)
