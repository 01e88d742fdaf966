"""Row filters typed by people (``Z_GAL > 0.5 and P_QSO < 0.1``), parsed by a small grammar over
column names and literals and evaluated with NumPy: user text is never given to Python's
``eval``, ``DataFrame.query`` or ``pandas.eval``.

Grammar (lowest precedence first; keywords are case-insensitive)::

    expression := disjunction
    disjunction := conjunction (("or" | "||" | "|") conjunction)*
    conjunction := negation (("and" | "&&" | "&") negation)*
    negation   := ("not" | "!" | "~") negation | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "=" | "!=") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | STRING | COLUMN | FUNCTION "(" expression ")" | "(" expression ")"

A comparison with a NaN value is false (an object without that value is not kept), as in SQL.
Not for producing VACs (see `produce`).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ExpressionError", "Expression", "parse_expression"]

_FUNCTIONS = {"abs": np.abs, "log10": np.log10, "sqrt": np.sqrt, "isnan": pd.isna, "isfinite": np.isfinite}
_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "=": np.equal, "!=": np.not_equal}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_OR, _AND, _NOT = ("or", "||", "|"), ("and", "&&", "&"), ("not", "!", "~")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"[^"]*"|'[^']*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|&&|\|\||[<>=!~&|+\-*/()])
""", re.VERBOSE)


class ExpressionError(ValueError):
    """A filter expression that cannot be parsed or evaluated; the message says where and why."""


@dataclass(frozen=True)
class _Token:
    kind: str          # number, string, name, op, end
    text: str
    at: int            # 0-based character position in the expression


def _tokenise(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise ExpressionError(f"unexpected character {text[at]!r} at position {at + 1}")
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup, match.group(), at))
        at = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the token list; builds a tree of tuples ``(kind, ...)``."""

    def __init__(self, text, columns):
        self.text, self.columns = text, list(columns)
        self.tokens, self.k = _tokenise(text), 0
        self.used = []

    @property
    def token(self):
        return self.tokens[self.k]

    def _is(self, *texts):
        token = self.token
        return token.kind in ("op", "name") and token.text.lower() in texts

    def _next(self):
        token = self.token
        self.k += 1
        return token

    def _fail(self, what, token=None):
        token = token or self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        raise ExpressionError(f"{what} at position {token.at + 1}, found {found}")

    def parse(self):
        if self.token.kind == "end":
            raise ExpressionError("empty expression")
        tree = self.disjunction()
        if self.token.kind != "end":
            self._fail("expected 'and', 'or' or an operator")
        return tree

    def _chain(self, words, operand, kind):
        tree = operand()
        while self._is(*words):
            self._next()
            tree = (kind, tree, operand())
        return tree

    def disjunction(self):
        return self._chain(_OR, self.conjunction, "or")

    def conjunction(self):
        return self._chain(_AND, self.negation, "and")

    def negation(self):
        if self._is(*_NOT):
            self._next()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self):
        left = self.sum()
        if self.token.kind == "op" and self.token.text in _COMPARE:
            op = self._next().text
            return ("compare", op, left, self.sum())
        return left

    def sum(self):
        tree = self.product()
        while self.token.kind == "op" and self.token.text in "+-":
            tree = ("arith", self._next().text, tree, self.product())
        return tree

    def product(self):
        tree = self.unary()
        while self.token.kind == "op" and self.token.text in "*/":
            tree = ("arith", self._next().text, tree, self.unary())
        return tree

    def unary(self):
        if self.token.kind == "op" and self.token.text == "-":
            self._next()
            return ("neg", self.unary())
        return self.atom()

    def atom(self):
        token = self.token
        if token.kind == "number":
            self._next()
            return ("literal", float(token.text))
        if token.kind == "string":
            self._next()
            return ("literal", token.text[1:-1])
        if token.kind == "op" and token.text == "(":
            self._next()
            tree = self.disjunction()
            if not (self.token.kind == "op" and self.token.text == ")"):
                self._fail("expected ')'")
            self._next()
            return tree
        if token.kind == "name":
            self._next()
            if token.text.lower() in _FUNCTIONS and self.token.text == "(":
                self._next()
                argument = self.disjunction()
                if self.token.text != ")":
                    self._fail(f"expected ')' after the argument of {token.text}")
                self._next()
                return ("call", token.text.lower(), argument)
            return ("column", self._column(token))
        self._fail("expected a column name, a number or '('")

    def _column(self, token):
        if token.text in self.columns:
            name = token.text
        else:                                   # column names are matched case-insensitively when unique
            same = [c for c in self.columns if c.lower() == token.text.lower()]
            if len(same) != 1:
                close = difflib.get_close_matches(token.text, self.columns, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ExpressionError(f"unknown column {token.text!r} at position {token.at + 1}{hint}")
            name = same[0]
        self.used.append(name)
        return name


class Expression:
    """A parsed filter: ``Expression(text, columns).mask(frame)`` is a boolean array, one per row.

    Parameters
    ----------
    text : the expression as typed
    columns : the column names it may use (checked while parsing, so an unknown name is an
        error before any data is read)
    """

    def __init__(self, text: str, columns):
        self.text = text
        parser = _Parser(text, columns)
        self._tree = parser.parse()
        self.columns = list(dict.fromkeys(parser.used))      # the columns to read, in first-use order

    def mask(self, frame) -> np.ndarray:
        """Rows of `frame` (a DataFrame or a mapping of column → array) that satisfy the expression."""
        with np.errstate(all="ignore"):
            result = self._evaluate(self._tree, frame)
        if isinstance(result, np.ndarray) and result.dtype == bool and result.ndim == 0:
            result = np.full(len(frame), bool(result))          # a condition on literals only
        if not (isinstance(result, np.ndarray) and result.dtype == bool):
            raise ExpressionError(f"{self.text!r} is a value, not a condition (compare it, e.g. '{self.text} > 0')")
        return result

    def _evaluate(self, tree, frame):
        kind = tree[0]
        if kind == "literal":
            return tree[1]
        if kind == "column":
            values = frame[tree[1]]
            if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
                return values.astype(object).to_numpy()
            return np.asarray(values)
        if kind in ("and", "or"):
            left, right = (self._condition(t, frame) for t in tree[1:])
            return left & right if kind == "and" else left | right
        if kind == "not":
            return ~self._condition(tree[1], frame)
        if kind == "compare":
            left, right = self._evaluate(tree[2], frame), self._evaluate(tree[3], frame)
            return self._compare(tree[1], left, right)
        if kind == "neg":
            return -self._number(tree[1], frame)
        if kind == "arith":
            return _ARITHMETIC[tree[1]](self._number(tree[2], frame), self._number(tree[3], frame))
        if kind == "call":
            argument = self._evaluate(tree[2], frame)
            if tree[1] != "isnan":
                argument = self._as_number(argument, tree[2])
            return np.asarray(_FUNCTIONS[tree[1]](argument), dtype=bool if tree[1].startswith("is") else None)
        raise AssertionError(kind)

    def _condition(self, tree, frame):
        value = self._evaluate(tree, frame)
        if not (isinstance(value, np.ndarray) and value.dtype == bool):
            raise ExpressionError(f"'and', 'or' and 'not' join conditions; {_describe(tree)} is a value")
        return value

    def _number(self, tree, frame):
        return self._as_number(self._evaluate(tree, frame), tree)

    @staticmethod
    def _as_number(value, tree):
        if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype.kind not in "fiub"):
            raise ExpressionError(f"{_describe(tree)} is text; arithmetic needs numbers")
        return value

    @staticmethod
    def _compare(op, left, right):
        text = [isinstance(v, str) or (isinstance(v, np.ndarray) and v.dtype == object) for v in (left, right)]
        if any(text):
            if not all(text):
                raise ExpressionError(f"cannot compare text with a number using {op!r}")
            if op not in ("==", "=", "!="):
                raise ExpressionError(f"text can only be compared with '==' or '!=', not {op!r}")
            equal = np.asarray(left == right, dtype=bool)
            if op != "!=":
                return equal
            missing = np.asarray(pd.isna(left)) | np.asarray(pd.isna(right))
            return ~equal & ~missing
        result = np.asarray(_COMPARE[op](left, right), dtype=bool)
        if op == "!=":                       # NaN != x is true in IEEE, false here (no value, not kept)
            result &= ~(np.isnan(np.asarray(left, dtype=float)) | np.isnan(np.asarray(right, dtype=float)))
        return result


def _describe(tree):
    return {"column": lambda: f"column {tree[1]}", "literal": lambda: repr(tree[1])}.get(
        tree[0], lambda: "this part")()


def parse_expression(text: str, columns) -> Expression:
    """`Expression(text, columns)`, or an `ExpressionError` naming the position and the problem."""
    return Expression(text, columns)
