"""A small, real SOQL front end: tokenizer and recursive-descent parser. Pure: text → AST.

Grammar (the subset the connector and its tests use)::

    query     := SELECT select FROM ident [WHERE or_expr] [ORDER BY order (, order)*]
                 [LIMIT int] [OFFSET int]
    select    := COUNT ( ) | path (, path)*            path := ident(.ident)?
    or_expr   := and_expr (OR and_expr)*              -- mixing AND/OR needs parentheses,
    and_expr  := unary (AND unary)*                   -- exactly as in real SOQL
    unary     := NOT unary | ( or_expr ) | path op value | path [NOT] IN ( value, ... )
    value     := 'string' | number | true | false | null | date | datetime | TODAY | LAST_N_DAYS:n

Errors carry Salesforce's codes (MALFORMED_QUERY) and its caret-and-column message shape.
Field and object names are checked later, against the schema (salesforce_query).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Union

from leadsync_sandbox.salesforce_values import parse_datetime

KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER",
                      "BY", "ASC", "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET",
                      "TRUE", "FALSE", "NULL", "COUNT"})
OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
N_DAY_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b",
            "f": "\f", "_": "\\_", "%": "\\%"}  # \_ and \% stay escaped for LIKE

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
""", re.VERBOSE)


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_at(text: str, pos: int, detail: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    """Salesforce points at the offending column under a copy of the query."""
    line_start = text.rfind("\n", 0, pos) + 1
    row = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    line = text[line_start:].split("\n", 1)[0]
    return SoqlError(code, f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}"
                           f"\n{detail}")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str       # keyword | ident | string | number | date | datetime | op | punct | eof
    text: str
    pos: int
    value: object = None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise error_at(text, pos, f"unexpected token: '{text[pos]}'")
        kind = m.lastgroup or ""
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(Token("string", text[pos:end], pos, value))
            pos = end
            continue
        if kind == "ident" and m.group().upper() in KEYWORDS:
            kind = "keyword"
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        c = text[pos]
        if c == "'":
            return "".join(out), pos + 1
        if c == "\\":
            nxt = text[pos + 1:pos + 2]
            if nxt not in _ESCAPES:
                raise error_at(text, pos, "Invalid string literal "
                                          f"'{text[start:pos + 2]}'. Illegal escape sequence")
            out.append(_ESCAPES[nxt])
            pos += 2
            continue
        out.append(c)
        pos += 1
    raise error_at(text, start, "unexpected token: <EOF>: unterminated string literal")


# --- AST --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FieldRef:
    path: tuple[str, ...]   # ("Email",) or ("Owner", "Name")
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str       # string | number | boolean | null | date | datetime | relative_date
    value: object   # relative_date: (name, n)
    pos: int
    raw: str


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    op: str         # = != < <= > >= LIKE IN NOT IN
    value: Union[Literal, tuple[Literal, ...]]


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str         # AND | OR
    operands: tuple["Condition", ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: "Condition"


Condition = Union[Comparison, BoolOp, Not]


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[FieldRef, ...]
    count: bool
    sobject: str
    sobject_pos: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    text: str


def parse(text: str) -> Query:
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.bare_and: int | None = None  # where the last unparenthesized AND chain began

    # token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, *words: str) -> bool:
        return self.tok.kind in ("keyword", "punct", "op") and self.tok.text.upper() in words

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def expect(self, word: str) -> Token:
        if not self.at(word):
            raise self.unexpected()
        return self.take()

    def unexpected(self) -> SoqlError:
        shown = self.tok.text if self.tok.kind == "eof" else f"'{self.tok.text}'"
        if self.tok.kind == "eof":
            shown = "<EOF>"
        return error_at(self.text, self.tok.pos, f"unexpected token: {shown}")

    # grammar
    def query(self) -> Query:
        self.expect("SELECT")
        count, fields = self.select_list()
        self.expect("FROM")
        if self.tok.kind != "ident" or "." in self.tok.text:
            raise self.unexpected()
        obj = self.take()
        where = None
        if self.at("WHERE"):
            self.take()
            where = self.or_expr()
        order = self.order_by() if self.at("ORDER") else ()
        limit = self.int_clause("LIMIT")
        offset = self.int_clause("OFFSET")
        if self.tok.kind != "eof":
            raise self.unexpected()
        return Query(tuple(fields), count, obj.text, obj.pos, where, order, limit, offset,
                     self.text)

    def select_list(self) -> tuple[bool, list[FieldRef]]:
        if self.at("COUNT"):
            self.take()
            self.expect("(")
            self.expect(")")
            return True, []
        fields = [self.field_ref()]
        while self.at(","):
            self.take()
            fields.append(self.field_ref())
        return False, fields

    def field_ref(self) -> FieldRef:
        if self.tok.kind != "ident":
            raise self.unexpected()
        tok = self.take()
        path = tuple(tok.text.split("."))
        if len(path) > 2:
            raise error_at(self.text, tok.pos, f"Didn't understand relationship '{tok.text}' "
                                               "in field path: only one level is supported",
                           "INVALID_FIELD")
        return FieldRef(path, tok.pos)

    def or_expr(self) -> Condition:
        items = [self.and_expr()]
        bare_and = [self.bare_and]
        while self.at("OR"):
            self.take()
            items.append(self.and_expr())
            bare_and.append(self.bare_and)
        mixed = next((pos for pos in bare_and if pos is not None), None)
        if len(items) > 1 and mixed is not None:
            # a OR b AND c: SOQL refuses to guess precedence and demands parentheses
            raise error_at(self.text, mixed, "unexpected token: 'AND'")
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def and_expr(self) -> Condition:
        items = [self.unary()]
        first_and = None
        while self.at("AND"):
            first_and = self.tok.pos if first_and is None else first_and
            self.take()
            items.append(self.unary())
        if self.at("OR") and len(items) > 1:
            raise self.unexpected()  # a AND b OR c
        self.bare_and = first_and
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def unary(self) -> Condition:
        if self.at("NOT"):
            self.take()
            return Not(self.unary())
        if self.at("("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.field_ref()
        if self.at("NOT"):
            self.take()
            self.expect("IN")
            return Comparison(field, "NOT IN", self.value_list())
        if self.at("IN"):
            self.take()
            return Comparison(field, "IN", self.value_list())
        if self.at("LIKE"):
            self.take()
            return Comparison(field, "LIKE", self.value())
        if self.tok.kind != "op":
            raise self.unexpected()
        op = self.take().text
        return Comparison(field, "!=" if op == "<>" else op, self.value())

    def value_list(self) -> tuple[Literal, ...]:
        self.expect("(")
        values = [self.value()]
        while self.at(","):
            self.take()
            values.append(self.value())
        self.expect(")")
        return tuple(values)

    def value(self) -> Literal:
        tok = self.tok
        if tok.kind == "string":
            self.take()
            return Literal("string", tok.value, tok.pos, tok.text)
        if tok.kind == "number":
            self.take()
            number = float(tok.text) if "." in tok.text else int(tok.text)
            return Literal("number", number, tok.pos, tok.text)
        if tok.kind == "datetime":
            self.take()
            return Literal("datetime", parse_datetime(tok.text), tok.pos, tok.text)
        if tok.kind == "date":
            self.take()
            return self.date_literal(tok)
        if self.at("TRUE", "FALSE"):
            self.take()
            return Literal("boolean", tok.text.upper() == "TRUE", tok.pos, tok.text)
        if self.at("NULL"):
            self.take()
            return Literal("null", None, tok.pos, tok.text)
        if tok.kind == "ident":
            return self.relative_date()
        raise self.unexpected()

    def date_literal(self, tok: Token) -> Literal:
        try:
            return Literal("date", date.fromisoformat(tok.text), tok.pos, tok.text)
        except ValueError:
            raise error_at(self.text, tok.pos, f"line 1:{tok.pos} no viable alternative at "
                                               f"character '{tok.text}'") from None

    def relative_date(self) -> Literal:
        tok = self.take()
        name = tok.text.upper()
        if name in DATE_LITERALS:
            return Literal("relative_date", (name, 0), tok.pos, tok.text)
        if name in N_DAY_LITERALS and self.at(":"):
            self.take()
            if self.tok.kind != "number" or not self.tok.text.isdigit():
                raise self.unexpected()
            n = int(self.take().text)
            return Literal("relative_date", (name, n), tok.pos, f"{tok.text}:{n}")
        raise error_at(self.text, tok.pos, f"unexpected token: '{tok.text}'")

    def order_by(self) -> tuple[OrderItem, ...]:
        self.expect("ORDER")
        self.expect("BY")
        items = [self.order_item()]
        while self.at(","):
            self.take()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        field = self.field_ref()
        descending = False
        if self.at("ASC", "DESC"):
            descending = self.take().text.upper() == "DESC"
        nulls_last = descending  # SOQL default: NULLS FIRST ascending, NULLS LAST descending
        if self.at("NULLS"):
            self.take()
            if not self.at("FIRST", "LAST"):
                raise self.unexpected()
            nulls_last = self.take().text.upper() == "LAST"
        return OrderItem(field, descending, nulls_last)

    def int_clause(self, word: str) -> int | None:
        if not self.at(word):
            return None
        self.take()
        if self.tok.kind != "number" or not self.tok.text.isdigit():
            raise self.unexpected()
        return int(self.take().text)
