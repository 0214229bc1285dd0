"""The condition language of ``rules:if``, ``workflow:rules:if`` and ``only/except:variables``, as GitLab CI has it.

Grammar (``||`` binds loosest, then ``&&``, then the comparisons)::

    expression := and ("||" and)*
    and        := term ("&&" term)*
    term       := "(" expression ")" | value [("==" | "!=") value] | value ("=~" | "!~") (pattern | variable)
    value      := $NAME | ${NAME} | "text" | 'text' | null

A bare value is true when it is defined and not blank (GitLab's ``present?``). An undefined variable equals
``null``, not ``""``. ``=~`` searches (it does not anchor) with Python's ``re``; flags ``i`` (ignore case), ``m``
(``^``/``$`` at line breaks) and ``s`` (``.`` matches a line break) are accepted, as with GitLab's RE2 patterns.
The right side of ``=~`` may also be a pattern in quotes (``"/^release/"``, which GitLab accepts) or a variable
whose value is written ``/pattern/flags``; a variable with any other value matches nothing.

Variables inside a ``/pattern/`` are NOT expanded: there ``$`` is the regex end anchor, so ``/$NAME/`` never
matches (GitLab versions differ on this; not expanding is the predictable choice — to match against a variable's
text, put the whole ``/pattern/`` in the variable and write ``$X =~ $PATTERN``). Strings have no escapes, like
GitLab's.

``parse`` raises ``ExpressionError`` (with the column) so that syntax is checked when the file is loaded;
``evaluate`` never fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import re2

NAME_RE = re.compile(r"[A-Za-z0-9_]+")
_FLAGS = "ims"  # RE2's inline flags, as GitLab (also RE2) accepts them after the closing slash


class Matcher(Protocol):
    """A compiled pattern: RE2's, so matching time is linear in the text whatever the pattern (a pushed pipeline
    file must not be able to hang a server worker with a catastrophic-backtracking regex, as Python's ``re``
    allows). RE2 has no back-references or look-arounds, the same limits GitLab has."""

    def search(self, text: str) -> Any: ...


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is reported to the user, not logged to the server's stderr
    return options

_OPERATORS = ("==", "!=", "=~", "!~", "&&", "||")


class ExpressionError(ValueError):
    """A syntax error in an expression, as one sentence naming the column."""


@dataclass(frozen=True)
class Token:
    kind: str  # var, string, null, pattern, op, (, ), end
    text: str  # the variable name, the string's content, the operator or the pattern's source
    column: int  # 1-based


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Null:
    pass


@dataclass(frozen=True)
class Pattern:
    source: str  # as written, /body/flags
    regex: Matcher


@dataclass(frozen=True)
class Compare:
    op: str
    left: Var | Text | Null
    right: Var | Text | Null | Pattern


@dataclass(frozen=True)
class Logical:
    op: str  # && or ||
    left: Expr
    right: Expr


Value = Var | Text | Null
Expr = Var | Text | Null | Compare | Logical


@lru_cache(maxsize=1024)
def compile_pattern(source: str) -> Matcher:
    """``/body/flags`` (``\\/`` for a slash inside) to a compiled regex; raises ``ExpressionError``."""
    if len(source) < 2 or not source.startswith("/"):
        raise ExpressionError(f"{source} is not a /regular expression/")
    end = source.rfind("/")
    if end == 0:
        raise ExpressionError(f"the regular expression {source} has no closing /")
    body, flags = source[1:end], source[end + 1 :]
    if not body:
        raise ExpressionError("the regular expression // is empty")
    for flag in flags:
        if flag not in _FLAGS:
            raise ExpressionError(f"the regular expression {source} has the flag “{flag}”; only i, m and s are known")
    prefix = f"(?{''.join(sorted(set(flags)))})" if flags else ""
    try:
        return re2.compile(prefix + body.replace("\\/", "/"), _re2_options())  # type: ignore[no-any-return]
    except re2.error as exc:
        raise ExpressionError(f"the regular expression {source} is invalid: {_reason(exc)}") from None


_RUBY_END = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")


def compile_ref_pattern(source: str) -> Matcher:
    """An ``only``/``except`` ref pattern. GitLab compiles these with Ruby's own regex engine when RE2 refuses
    them, so the Ruby anchor ``\\Z`` (end, or before a final newline) that RE2 lacks is accepted; a ref name holds
    no newline, so it means the same as ``\\z``."""
    return compile_pattern(_RUBY_END.sub(lambda m: m.group(1) + "\\z", source))


def _reason(exc: Exception) -> str:
    # RE2 gives its message as bytes.
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        column = i + 1
        if ch.isspace():
            i += 1
        elif ch == "$":
            if text.startswith("{", i + 1):
                close = text.find("}", i + 2)
                name = text[i + 2 : close] if close != -1 else ""
                if close == -1 or not NAME_RE.fullmatch(name):
                    raise ExpressionError(f"“${{” at column {column} must be followed by a variable name and “}}”")
                tokens.append(Token("var", name, column))
                i = close + 1
            else:
                match = NAME_RE.match(text, i + 1)
                if match is None:
                    raise ExpressionError(f"“$” at column {column} must be followed by a variable name")
                tokens.append(Token("var", match.group(), column))
                i = match.end()
        elif ch in "\"'":
            close = text.find(ch, i + 1)
            if close == -1:
                raise ExpressionError(f"the string starting at column {column} has no closing {ch}")
            tokens.append(Token("string", text[i + 1 : close], column))
            i = close + 1
        elif ch == "/":
            j = i + 1
            while j < n and text[j] != "/":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise ExpressionError(f"the regular expression starting at column {column} has no closing /")
            j += 1
            while j < n and text[j].isalpha():
                j += 1
            tokens.append(Token("pattern", text[i:j], column))
            i = j
        elif text.startswith(_OPERATORS, i):
            tokens.append(Token("op", text[i : i + 2], column))
            i += 2
        elif ch in "()":
            tokens.append(Token(ch, ch, column))
            i += 1
        elif ch.isalpha() or ch == "_":
            match = re.compile(r"\w+").match(text, i)
            assert match is not None
            word = match.group()
            if word != "null":
                raise ExpressionError(
                    f"unexpected word “{word}” at column {column}: variables start with $ and text goes in quotes"
                )
            tokens.append(Token("null", word, column))
            i = match.end()
        else:
            hint = " (use == to compare)" if ch == "=" else " (use && or ||)" if ch in "&|" else ""
            raise ExpressionError(f"unexpected “{ch}” at column {column}{hint}")
    tokens.append(Token("end", "", n + 1))
    return tokens


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    shown = {"var": f"${token.text}", "string": f'"{token.text}"'}.get(token.kind, token.text)
    return f"“{shown}” at column {token.column}"


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self) -> Expr:
        left = self.conjunction()
        while self.peek().text == "||":
            self.take()
            left = Logical("||", left, self.conjunction())
        return left

    def conjunction(self) -> Expr:
        left = self.term()
        while self.peek().text == "&&":
            self.take()
            left = Logical("&&", left, self.term())
        return left

    def term(self) -> Expr:
        if self.peek().kind == "(":
            opening = self.take()
            inner = self.expression()
            if self.peek().kind != ")":
                raise ExpressionError(
                    f"the “(” at column {opening.column} is not closed: expected “)” before {_describe(self.peek())}"
                )
            self.take()
            if self.peek().kind == "op" and self.peek().text in ("==", "!=", "=~", "!~"):
                raise ExpressionError(f"{_describe(self.peek())} cannot compare a group in parentheses")
            return inner
        left = self.value()
        if isinstance(left, Pattern):
            raise ExpressionError(f"the regular expression {left.source} must follow =~ or !~")
        token = self.peek()
        if token.kind != "op" or token.text not in ("==", "!=", "=~", "!~"):
            return left
        self.take()
        right = self.value()
        if token.text in ("==", "!=") and isinstance(right, Pattern):
            raise ExpressionError(f"{token.text} compares text; use =~ to match the regular expression {right.source}")
        if token.text in ("=~", "!~"):
            if isinstance(right, Text) and right.value.startswith("/"):
                # GitLab accepts a pattern in quotes ("/^release/") and reads it as the pattern.
                try:
                    right = Pattern(right.value, compile_pattern(right.value))
                except ExpressionError as exc:
                    raise ExpressionError(f"{exc} (column {self.tokens[self.pos - 1].column})") from None
            elif not isinstance(right, Pattern | Var):
                raise ExpressionError(
                    f"{token.text} at column {token.column} must be followed by a /regular expression/"
                )
        follow = self.peek()
        if follow.kind == "op" and follow.text in ("==", "!=", "=~", "!~"):
            raise ExpressionError(f"{_describe(follow)}: comparisons cannot be chained; join them with && or ||")
        return Compare(token.text, left, right)

    def value(self) -> Value | Pattern:
        token = self.take()
        if token.kind == "var":
            return Var(token.text)
        if token.kind == "string":
            return Text(token.text)
        if token.kind == "null":
            return Null()
        if token.kind == "pattern":
            try:
                return Pattern(token.text, compile_pattern(token.text))
            except ExpressionError as exc:
                raise ExpressionError(f"{exc} (column {token.column})") from None
        raise ExpressionError(f"expected a variable, a quoted string or null, found {_describe(token)}")


@lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    """The syntax tree of ``text``; raises ``ExpressionError``."""
    if not text.strip():
        raise ExpressionError("the expression is empty")
    parser = _Parser(tokenize(text))
    tree = parser.expression()
    if parser.peek().kind != "end":
        extra = parser.peek()
        hint = " (a “)” without its “(”?)" if extra.kind == ")" else " (missing && or ||?)"
        raise ExpressionError(f"unexpected {_describe(extra)}{hint}")
    return tree


def _value(node: Value, variables: Mapping[str, str]) -> str | None:
    if isinstance(node, Var):
        return variables.get(node.name)
    if isinstance(node, Text):
        return node.value
    return None


def _present(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def _regex(node: Var | Text | Null | Pattern, variables: Mapping[str, str]) -> Matcher | None:
    if isinstance(node, Pattern):
        return node.regex
    text = _value(node, variables)
    if text is None or not text.startswith("/"):
        return None
    try:
        return compile_pattern(text)
    except ExpressionError:
        return None


def evaluate(tree: Expr, variables: Mapping[str, str]) -> bool:
    """Whether the expression holds for these variables."""
    if isinstance(tree, Logical):
        if tree.op == "&&":
            return evaluate(tree.left, variables) and evaluate(tree.right, variables)
        return evaluate(tree.left, variables) or evaluate(tree.right, variables)
    if isinstance(tree, Compare):
        left = _value(tree.left, variables)
        if tree.op in ("==", "!="):
            assert not isinstance(tree.right, Pattern)
            equal = left == _value(tree.right, variables)
            return equal if tree.op == "==" else not equal
        regex = _regex(tree.right, variables)
        if regex is None:  # GitLab: nothing to match with → =~ is false, !~ is true
            return tree.op == "!~"
        found = regex.search(left or "") is not None
        return found if tree.op == "=~" else not found
    return _present(_value(tree, variables))


def check(text: str) -> None:
    """Raise ``ExpressionError`` when ``text`` is not a valid expression."""
    parse(text)


def holds(text: str, variables: Mapping[str, str]) -> bool:
    """Parse (cached) and evaluate."""
    return evaluate(parse(text), variables)
