"""A small SOQL engine: tokenizer, recursive-descent parser and evaluator (no ``eval``).

Canary's detectors and enrichment steps speak SOQL through simple-salesforce. The sandbox runs
the subset they use with Salesforce's semantics where they matter for correctness: case-
insensitive names and text comparisons, relationship paths (``Owner.Manager.Email``), date
literals (``TODAY``, ``LAST_N_DAYS:30``) as ranges, null handling, the rule that AND and OR
cannot be mixed without parentheses, literal type checks, what the schema says a field allows
(a long text area cannot be filtered, sorted, grouped or counted), ``GROUP BY`` with counts,
and Salesforce's positioned error messages (``ERROR at Row:1:Column:8``), so a query that works
here works against a real org.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from .errors import SalesforceApiError, api_error
from .ids import looks_like_id, normalize
from .schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef, SObjectDef, sobject, type_of_id

Record = dict[str, Any]
T = TypeVar("T")
Lookup = Callable[[str], Record | None]

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "TRUE",
        "FALSE",
        "NULL",
        "GROUP",
        "HAVING",
        "WITH",
        "FOR",
        "INCLUDES",
        "EXCLUDES",
        "USING",
        "TYPEOF",
    }
)

_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})(?![\w])"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:])")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?![\w])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_PUNCT = "(),.:"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}

# Date literals without and with a ``:n`` parameter.
DATE_LITERALS = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
DATE_LITERALS_N = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "LAST_N_QUARTERS",
        "NEXT_N_QUARTERS",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
    }
)


# -- tokens -----------------------------------------------------------------------------------


@dataclass
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    pos: int
    value: Any = None
    like: str | None = None  # for strings: the LIKE pattern as a regex

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


class SoqlError(Exception):
    def __init__(self, code: str, message: str, pos: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos

    def to_api_error(self, soql: str) -> SalesforceApiError:
        if self.pos is None:
            return api_error(400, self.code, self.message)
        return api_error(400, self.code, _positioned(soql, self.pos, self.message))


def _positioned(soql: str, pos: int, message: str) -> str:
    pos = max(0, min(pos, len(soql)))
    row = soql.count("\n", 0, pos) + 1
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"


def _malformed(message: str, pos: int | None) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message, pos)


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(soql):
        char = soql[i]
        if char.isspace():
            i += 1
            continue
        if char == "'":
            token, i = _read_string(soql, i)
            tokens.append(token)
            continue
        match = _DATETIME.match(soql, i)
        if match:
            tokens.append(Token("datetime", match.group(), i, _parse_datetime(match.group())))
            i = match.end()
            continue
        match = _DATE.match(soql, i)
        if match:
            try:
                value = date.fromisoformat(match.group())
            except ValueError as exc:
                raise _malformed(f"invalid date: {match.group()}", i) from exc
            tokens.append(Token("date", match.group(), i, value))
            i = match.end()
            continue
        match = _NUMBER.match(soql, i)
        if match:
            text = match.group()
            tokens.append(Token("number", text, i, float(text) if "." in text else int(text)))
            i = match.end()
            continue
        match = _IDENT.match(soql, i)
        if match:
            tokens.append(Token("ident", match.group(), i))
            i = match.end()
            continue
        operator = next((op for op in _OPERATORS if soql.startswith(op, i)), None)
        if operator:
            tokens.append(Token("op", operator, i))
            i += len(operator)
            continue
        if char in _PUNCT:
            tokens.append(Token("punct", char, i))
            i += 1
            continue
        raise _malformed(f"unexpected token: '{char}'", i)
    tokens.append(Token("eof", "<EOF>", len(soql)))
    return tokens


def _read_string(soql: str, start: int) -> tuple[Token, int]:
    """A quoted string; keeps ``\\%`` and ``\\_`` apart so LIKE can treat them as literals."""
    value: list[str] = []
    regex: list[str] = []
    i = start + 1
    while i < len(soql):
        char = soql[i]
        if char == "'":
            text = "".join(value)
            return Token("string", soql[start : i + 1], start, text, "".join(regex)), i + 1
        if char == "\\":
            if i + 1 >= len(soql):
                break
            escaped = soql[i + 1]
            if escaped in "%_":
                value.append(escaped)
                regex.append(re.escape(escaped))
                i += 2
                continue
            if escaped.lower() == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", soql[i + 2 : i + 6]):
                decoded = chr(int(soql[i + 2 : i + 6], 16))
                value.append(decoded)
                regex.append(re.escape(decoded))
                i += 6
                continue
            mapped = _ESCAPES.get(escaped) or _ESCAPES.get(escaped.lower())
            if mapped is None:
                raise _malformed(
                    f"Invalid string literal '{soql[start:]}'. Illegal character sequence "
                    f"'\\{escaped}' in string literal.",
                    start,
                )
            value.append(mapped)
            regex.append(re.escape(mapped))
            i += 2
            continue
        value.append(char)
        regex.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    raise _malformed(f"unexpected token: '{soql[start:]}'", start)


def _parse_datetime(text: str) -> datetime:
    normalized = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", normalized):
        normalized = normalized[:-2] + ":" + normalized[-2:]
    return datetime.fromisoformat(normalized).astimezone(UTC)


# -- syntax tree ------------------------------------------------------------------------------


@dataclass
class FieldPath:
    """``Owner.Manager.Email`` resolved against the schema when the query is parsed."""

    text: str
    pos: int
    hops: tuple[FieldDef, ...]  # reference fields followed, in order
    names: tuple[str, ...]  # canonical relationship names, then the canonical field name
    final: FieldDef

    @property
    def key(self) -> str:
        return ".".join(self.names).lower()


@dataclass
class Count:
    path: FieldPath | None  # None for COUNT()
    alias: str | None
    pos: int


@dataclass
class Literal:
    kind: str  # string, number, boolean, null, date, datetime, dateliteral
    value: Any
    pos: int
    text: str
    like: str | None = None
    n: int | None = None  # the parameter of LAST_N_DAYS:n and friends


@dataclass
class Compare:
    path: FieldPath
    op: str
    literal: Literal


@dataclass
class InList:
    path: FieldPath
    literals: list[Literal]
    negate: bool


@dataclass
class Like:
    path: FieldPath
    literal: Literal


@dataclass
class BoolOp:
    op: str  # AND / OR
    items: list[Condition]


@dataclass
class Not:
    item: Condition


Condition = Compare | InList | Like | BoolOp | Not


@dataclass
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    soql: str
    sobject: SObjectDef
    fields: list[FieldPath] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)
    where: Condition | None = None
    group_by: list[FieldPath] = field(default_factory=list)
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None

    @property
    def is_count_only(self) -> bool:
        return len(self.counts) == 1 and self.counts[0].path is None and not self.fields


# -- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, soql: str, tokens: list[Token], *, query_rules: bool = True) -> None:
        self.soql = soql
        self.tokens = tokens
        self.i = 0
        self.sobject: SObjectDef | None = None
        # What SOQL may filter on is a rule of queries: a validation rule (a formula over the
        # saved record) may read a long text area.
        self.query_rules = query_rules

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "eof":
            self.i += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.peek
        return _malformed(f"unexpected token: {token.text}", token.pos)

    def keyword(self, word: str) -> bool:
        if self.peek.upper == word:
            self.advance()
            return True
        return False

    def expect_keyword(self, word: str) -> Token:
        if self.peek.upper != word:
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if self.peek.kind != "punct" or self.peek.text != char:
            raise self.unexpected()
        return self.advance()

    def is_punct(self, char: str) -> bool:
        return self.peek.kind == "punct" and self.peek.text == char

    # query := SELECT items FROM type [WHERE cond] [ORDER BY ...] [LIMIT n] [OFFSET n]
    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        raw_items = self.select_items()
        self.expect_keyword("FROM")
        type_token = self.advance()
        if type_token.kind != "ident" or type_token.upper in KEYWORDS:
            raise self.unexpected(type_token)
        definition = sobject(type_token.text)
        if definition is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{type_token.text}' is not supported. If you are attempting to "
                "use a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                type_token.pos,
            )
        self.sobject = definition
        query = Query(self.soql, definition)
        self.resolve_select(query, raw_items)
        if self.keyword("WHERE"):
            query.where = self.condition()
        if self.keyword("GROUP"):
            self.expect_keyword("BY")
            query.group_by.append(self.group_item())
            while self.is_punct(","):
                self.advance()
                query.group_by.append(self.group_item())
        if self.peek.upper in {"HAVING", "WITH"}:
            raise _malformed(
                f"{self.peek.text.upper()} is not supported by Canary's Salesforce sandbox",
                self.peek.pos,
            )
        self.check_aggregation(query)
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            query.order_by.append(self.order_item())
            while self.is_punct(","):
                self.advance()
                query.order_by.append(self.order_item())
            grouped = {path.key for path in query.group_by}
            for item in query.order_by:
                if query.group_by and item.path.key not in grouped:
                    raise _malformed(
                        f"Ordered field must be grouped or aggregated: {item.path.names[-1]}",
                        item.path.pos,
                    )
        if self.keyword("LIMIT"):
            query.limit = self.integer()
        if self.keyword("OFFSET"):
            query.offset = self.integer()
        if self.peek.kind != "eof":
            raise self.unexpected()
        return query

    def integer(self) -> int:
        token = self.advance()
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
            raise self.unexpected(token)
        return int(token.value)

    def select_items(self) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = []
        while True:
            token = self.peek
            if self.is_punct("("):
                raise _malformed(
                    "nested (child relationship) queries are not supported by Canary's "
                    "Salesforce sandbox",
                    token.pos,
                )
            if token.upper == "COUNT" and self.tokens[self.i + 1].text == "(":
                self.advance()
                self.expect_punct("(")
                inner: tuple[list[str], int] | None = None
                if not self.is_punct(")"):
                    inner = self.raw_path()
                self.expect_punct(")")
                alias = None
                if self.peek.kind == "ident" and self.peek.upper not in KEYWORDS:
                    alias = self.advance().text
                items.append(("count", (inner, alias, token.pos)))
            else:
                items.append(("field", self.raw_path()))
            if not self.is_punct(","):
                return items
            self.advance()

    def raw_path(self) -> tuple[list[str], int]:
        token = self.advance()
        if token.kind != "ident" or token.upper in KEYWORDS - {"FIRST", "LAST"}:
            raise self.unexpected(token)
        parts = [token.text]
        while self.is_punct("."):
            self.advance()
            part = self.advance()
            if part.kind != "ident":
                raise self.unexpected(part)
            parts.append(part.text)
        return parts, token.pos

    def resolve_select(self, query: Query, raw_items: list[tuple[str, Any]]) -> None:
        seen: set[str] = set()
        for kind, payload in raw_items:
            if kind == "count":
                inner, alias, pos = payload
                path = self.resolve(*inner) if inner else None
                query.counts.append(Count(path, alias, pos))
                continue
            path = self.resolve(*payload)
            if path.key in seen:
                raise _malformed(f"duplicate field selected: {path.text}", path.pos)
            seen.add(path.key)
            query.fields.append(path)
        bare = next((c for c in query.counts if c.path is None), None)
        if bare is not None and (len(query.counts) > 1 or query.fields):
            raise _malformed("COUNT() must be the only element in the SELECT list", bare.pos)
        for count in query.counts:
            if count.path is not None and not count.path.final.aggregatable:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"field {count.path.final.name} does not support aggregate operator COUNT",
                    count.path.pos,
                )

    def check_aggregation(self, query: Query) -> None:
        """With counts or GROUP BY, every selected field must be one the query groups by."""
        if not query.counts and not query.group_by:
            return
        if query.group_by and query.is_count_only:
            raise _malformed("COUNT() cannot be used with GROUP BY", query.counts[0].pos)
        grouped = {path.key for path in query.group_by}
        for path in query.fields:
            if path.key not in grouped:
                raise _malformed(f"Field must be grouped or aggregated: {path.names[-1]}", path.pos)

    def group_item(self) -> FieldPath:
        path = self.resolve(*self.raw_path())
        if not path.final.groupable:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{path.final.name}' can not be grouped in a query call",
                path.pos,
            )
        return path

    def resolve(self, parts: list[str], pos: int) -> FieldPath:
        assert self.sobject is not None
        types: list[SObjectDef] = [self.sobject]
        # Salesforce lets a path start with the queried object's own name (Account.Name).
        if len(parts) > 1 and parts[0].lower() == self.sobject.name.lower():
            if self.sobject.relationship(parts[0]) is None:
                parts = parts[1:]
        hops: list[FieldDef] = []
        names: list[str] = []
        for part in parts[:-1]:
            ref = next((r for t in types if (r := t.relationship(part)) is not None), None)
            if ref is None or ref.relationship_name is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                    pos,
                )
            hops.append(ref)
            names.append(ref.relationship_name)
            types = [t for name in ref.reference_to if (t := sobject(name)) is not None]
        final = next((f for t in types if (f := t.field(parts[-1])) is not None), None)
        if final is None:
            entity = types[0].name if len(types) == 1 else "Name"
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{parts[-1]}' on entity '{entity}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
                pos,
            )
        names.append(final.name)
        return FieldPath(".".join(parts), pos, tuple(hops), tuple(names), final)

    def order_item(self) -> OrderItem:
        path = self.resolve(*self.raw_path())
        if not path.final.sortable:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{path.final.name}' can not be sorted in a query call",
                path.pos,
            )
        descending = self.keyword("DESC")
        if not descending:
            self.keyword("ASC")
        nulls_last = descending
        if self.keyword("NULLS"):
            if self.keyword("FIRST"):
                nulls_last = False
            elif self.keyword("LAST"):
                nulls_last = True
            else:
                raise self.unexpected()
        return OrderItem(path, descending, nulls_last)

    # cond := unary ((AND unary)* | (OR unary)*)   -- SOQL refuses to mix AND and OR unbracketed
    def condition(self) -> Condition:
        items = [self.unary()]
        operator: str | None = None
        while self.peek.upper in {"AND", "OR"}:
            word = self.peek.upper
            if operator is not None and operator != word:
                raise self.unexpected()
            operator = word
            self.advance()
            items.append(self.unary())
        if operator is None:
            return items[0]
        return BoolOp(operator, items)

    def unary(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self.unary())
        if self.is_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        path = self.resolve(*self.raw_path())
        if self.query_rules and not path.final.filterable:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{path.final.name}' can not be filtered in query call",
                path.pos,
            )
        token = self.peek
        if token.kind == "op":
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            literal = self.literal()
            self.check_type(path, literal, op)
            return Compare(path, op, literal)
        negate = False
        if token.upper == "NOT":
            self.advance()
            negate = True
            if self.peek.upper != "IN":
                raise self.unexpected()
        if self.keyword("IN"):
            self.expect_punct("(")
            if self.is_punct("("):
                raise _malformed(
                    "semi-join sub-selects are not supported by the sandbox", self.peek.pos
                )
            literals = [self.literal()]
            while self.is_punct(","):
                self.advance()
                literals.append(self.literal())
            self.expect_punct(")")
            for literal in literals:
                self.check_type(path, literal, "IN")
            return InList(path, literals, negate)
        if self.keyword("LIKE"):
            literal = self.literal()
            if literal.kind != "string":
                raise _malformed("LIKE requires a quoted string", literal.pos)
            self.check_type(path, literal, "LIKE")
            return Like(path, literal)
        if token.upper in {"INCLUDES", "EXCLUDES"}:
            raise _malformed(f"{token.upper} is not supported by the sandbox", token.pos)
        raise self.unexpected()

    def literal(self) -> Literal:
        token = self.advance()
        if token.kind == "string":
            return Literal("string", token.value, token.pos, token.text, like=token.like)
        if token.kind == "number":
            return Literal("number", token.value, token.pos, token.text)
        if token.kind in {"date", "datetime"}:
            return Literal(token.kind, token.value, token.pos, token.text)
        if token.kind == "ident":
            word = token.upper
            if word in {"TRUE", "FALSE"}:
                return Literal("boolean", word == "TRUE", token.pos, token.text)
            if word == "NULL":
                return Literal("null", None, token.pos, token.text)
            if word in DATE_LITERALS:
                return Literal("dateliteral", word, token.pos, token.text)
            if word in DATE_LITERALS_N:
                if not self.is_punct(":"):
                    raise _malformed(f"unexpected token: {token.text}", token.pos)
                self.advance()
                n = self.integer()
                return Literal("dateliteral", word, token.pos, f"{token.text}:{n}", n=n)
        raise self.unexpected(token)

    def check_type(self, path: FieldPath, literal: Literal, op: str) -> None:
        """Salesforce refuses literals of the wrong type; Canary's adapters must quote right."""
        ftype = path.final.type
        kind = literal.kind
        if kind == "null":
            if op in {"=", "!=", "IN"}:
                return
            raise _malformed(f"invalid operator on null: {op}", literal.pos)
        name = path.names[-1]
        if ftype in TEXT_TYPES:
            ok, expected, quoted = kind == "string", "string", True
        elif ftype in ID_TYPES:
            ok, expected, quoted = kind == "string", "id", True
        elif ftype in NUMBER_TYPES:
            ok, expected, quoted = kind == "number", "double" if ftype != "int" else "int", False
        elif ftype == "boolean":
            ok, expected, quoted = kind == "boolean", "boolean", False
        elif ftype == "date":
            ok, expected, quoted = kind in {"date", "dateliteral"}, "date", False
        elif ftype == "datetime":
            ok, expected, quoted = kind in {"datetime", "dateliteral"}, "dateTime", False
        else:
            ok, expected, quoted = True, ftype, False
        if not ok:
            enclosed = (
                "should be enclosed in quotes" if quoted else ("should not be enclosed in quotes")
            )
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{name}' must be of type {expected} and "
                f"{enclosed}",
                literal.pos,
            )
        if op == "LIKE" and ftype not in TEXT_TYPES:
            raise SoqlError(
                "INVALID_FIELD", f"invalid operator on {expected} field: LIKE", literal.pos
            )
        if ftype in ID_TYPES and literal.value and not looks_like_id(literal.value):
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {literal.value}", literal.pos
            )


def parse(soql: str) -> Query:
    """Parse and resolve against the schema; raises :class:`SalesforceApiError` like the API."""
    try:
        return _Parser(soql, tokenize(soql)).parse()
    except SoqlError as exc:
        raise exc.to_api_error(soql) from None


def parse_condition(sobject_name: str, condition: str) -> Condition:
    """A bare WHERE clause against one sObject (used for data-driven validation rules)."""
    definition = sobject(sobject_name)
    if definition is None:
        raise api_error(400, "INVALID_TYPE", f"sObject type '{sobject_name}' is not supported.")
    parser = _Parser(condition, tokenize(condition), query_rules=False)
    parser.sobject = definition
    try:
        result = parser.condition()
        if parser.peek.kind != "eof":
            raise parser.unexpected()
    except SoqlError as exc:
        raise exc.to_api_error(condition) from None
    return result


# -- dates ------------------------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def date_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The half-open [start, end) range a date literal stands for (weeks start on Sunday)."""
    one = timedelta(days=1)
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    month = today.replace(day=1)
    quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    year = date(today.year, 1, 1)
    k = n or 0
    ranges: dict[str, tuple[date, date]] = {
        "TODAY": (today, today + one),
        "YESTERDAY": (today - one, today),
        "TOMORROW": (today + one, today + 2 * one),
        "LAST_WEEK": (week - 7 * one, week),
        "THIS_WEEK": (week, week + 7 * one),
        "NEXT_WEEK": (week + 7 * one, week + 14 * one),
        "LAST_MONTH": (_add_months(month, -1), month),
        "THIS_MONTH": (month, _add_months(month, 1)),
        "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "LAST_QUARTER": (_add_months(quarter, -3), quarter),
        "THIS_QUARTER": (quarter, _add_months(quarter, 3)),
        "NEXT_QUARTER": (_add_months(quarter, 3), _add_months(quarter, 6)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), year),
        "THIS_YEAR": (year, date(today.year + 1, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_N_DAYS": (today - k * one, today + one),
        "NEXT_N_DAYS": (today + one, today + (k + 1) * one),
        "N_DAYS_AGO": (today - k * one, today - (k - 1) * one),
        "LAST_N_WEEKS": (week - 7 * k * one, week),
        "NEXT_N_WEEKS": (week + 7 * one, week + 7 * (k + 1) * one),
        "LAST_N_MONTHS": (_add_months(month, -k), month),
        "NEXT_N_MONTHS": (_add_months(month, 1), _add_months(month, k + 1)),
        "LAST_N_QUARTERS": (_add_months(quarter, -3 * k), quarter),
        "NEXT_N_QUARTERS": (_add_months(quarter, 3), _add_months(quarter, 3 * (k + 1))),
        "LAST_N_YEARS": (date(today.year - k, 1, 1), year),
        "NEXT_N_YEARS": (date(today.year + 1, 1, 1), date(today.year + k + 1, 1, 1)),
    }
    return ranges[name]


def parse_api_datetime(value: str) -> datetime:
    """Salesforce's ``2026-11-23T10:00:00.000+0000`` (and ISO variants) as an aware datetime."""
    return _parse_datetime(value)


# -- evaluation -------------------------------------------------------------------------------


@dataclass
class Context:
    lookup: Lookup
    today: date


def walk(record: Record | None, path: FieldPath, ctx: Context) -> Any:
    for hop in path.hops:
        if record is None:
            return None
        target_id = record.get(hop.name)
        record = ctx.lookup(target_id) if target_id else None
    if record is None:
        return None
    return record.get(path.final.name)


def _comparable(ftype: str, value: Any) -> Any:
    if value is None:
        return None
    if ftype in TEXT_TYPES:
        return str(value).casefold()
    if ftype in ID_TYPES:
        return normalize(str(value))
    if ftype in NUMBER_TYPES:
        return float(value)
    if ftype == "boolean":
        return bool(value)
    if ftype == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if ftype == "datetime":
        return value if isinstance(value, datetime) else parse_api_datetime(str(value))
    return value


def _range_for(ftype: str, literal: Literal, today: date) -> tuple[Any, Any]:
    start, end = date_range(literal.value, literal.n, today)
    if ftype == "datetime":
        return (
            datetime(start.year, start.month, start.day, tzinfo=UTC),
            datetime(end.year, end.month, end.day, tzinfo=UTC),
        )
    return start, end


def _compare(path: FieldPath, op: str, literal: Literal, value: Any, ctx: Context) -> bool:
    ftype = path.final.type
    if literal.kind == "null":
        return (value is None) == (op == "=")
    if value is None:
        return op == "!="
    left = _comparable(ftype, value)
    if literal.kind == "dateliteral":
        start, end = _range_for(ftype, literal, ctx.today)
        inside = start <= left < end
        return {
            "=": inside,
            "!=": not inside,
            "<": left < start,
            "<=": left < end,
            ">": left >= end,
            ">=": left >= start,
        }[op]
    right = _comparable(ftype, literal.value)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    try:
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    except TypeError:
        return False


def evaluate(condition: Condition | None, record: Record, ctx: Context) -> bool:
    if condition is None:
        return True
    if isinstance(condition, BoolOp):
        if condition.op == "AND":
            return all(evaluate(item, record, ctx) for item in condition.items)
        return any(evaluate(item, record, ctx) for item in condition.items)
    if isinstance(condition, Not):
        return not evaluate(condition.item, record, ctx)
    value = walk(record, condition.path, ctx)
    if isinstance(condition, Compare):
        return _compare(condition.path, condition.op, condition.literal, value, ctx)
    if isinstance(condition, InList):
        found = any(
            _compare(condition.path, "=", literal, value, ctx) for literal in condition.literals
        )
        return not found if condition.negate else found
    if value is None:
        return False
    pattern = condition.literal.like or ""
    return re.fullmatch(pattern, str(value), re.IGNORECASE | re.DOTALL) is not None


def _sort_key(path: FieldPath, record: Record, ctx: Context) -> Any:
    return _comparable(path.final.type, walk(record, path, ctx))


def order(records: list[Record], items: list[OrderItem], ctx: Context) -> list[Record]:
    rows = list(records)
    # Stable sorts from the last key to the first give a multi-key order with per-key
    # direction and null placement (ASC → nulls first, DESC → nulls last by default).
    for item in reversed(items):
        keyed = [(_sort_key(item.path, r, ctx), r) for r in rows]
        present = [pair for pair in keyed if pair[0] is not None]
        missing = [r for key, r in keyed if key is None]
        present.sort(key=lambda pair: pair[0], reverse=item.descending)
        ordered = [r for _, r in present]
        rows = ordered + missing if item.nulls_last else missing + ordered
    return rows


def attributes(record: Record, version: str) -> dict[str, str]:
    sobject_type = type_of_id(record["Id"]) or "Name"
    return {
        "type": sobject_type,
        "url": f"/services/data/v{version}/sobjects/{sobject_type}/{record['Id']}",
    }


def project(record: Record, paths: Iterable[FieldPath], ctx: Context, version: str) -> Record:
    """One result row: ``attributes`` first, relationships nested (or null) like Salesforce."""
    out: Record = {"attributes": attributes(record, version)}
    for path in paths:
        _place(out, record, path, 0, ctx, version)
    return out


def _place(
    container: Record, record: Record, path: FieldPath, depth: int, ctx: Context, version: str
) -> None:
    if depth == len(path.hops):
        definition = sobject(type_of_id(record["Id"]) or "")
        own = definition.field(path.final.name) if definition else None
        container[own.name if own else path.final.name] = record.get(
            own.name if own else path.final.name
        )
        return
    hop = path.hops[depth]
    relationship = path.names[depth]
    target_id = record.get(hop.name)
    target = ctx.lookup(target_id) if target_id else None
    if relationship not in container:
        container[relationship] = (
            None if target is None else {"attributes": attributes(target, version)}
        )
    nested = container[relationship]
    if nested is not None and target is not None:
        _place(nested, target, path, depth + 1, ctx, version)


@dataclass
class Result:
    total: int
    records: list[Record]


def run(query: Query, rows: Iterable[Record], ctx: Context, version: str) -> Result:
    matched = [r for r in rows if evaluate(query.where, r, ctx)]
    if query.order_by:
        matched = order(matched, query.order_by, ctx)
    if query.group_by:
        groups = _window(query, _grouped(matched, query.group_by, ctx))
        return Result(len(groups), [_aggregate(query, group, ctx) for group in groups])
    matched = _window(query, matched)
    if query.is_count_only:
        return Result(len(matched), [])
    if query.counts:
        return Result(1, [_aggregate(query, matched, ctx)])
    return Result(len(matched), [project(r, query.fields, ctx, version) for r in matched])


def _window(query: Query, items: list[T]) -> list[T]:
    if query.offset:
        items = items[query.offset :]
    if query.limit is not None:
        items = items[: query.limit]
    return items


def _grouped(records: list[Record], paths: list[FieldPath], ctx: Context) -> list[list[Record]]:
    """Records by the values of the GROUP BY fields, groups in the order they first appear
    (so an ORDER BY on grouped fields orders the groups)."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for record in records:
        key = tuple(_comparable(p.final.type, walk(record, p, ctx)) for p in paths)
        groups.setdefault(key, []).append(record)
    return list(groups.values())


def _aggregate(query: Query, records: list[Record], ctx: Context) -> Record:
    """One AggregateResult row: the grouped fields by their own name, then each count."""
    row: Record = {"attributes": {"type": "AggregateResult"}}
    for path in query.fields:
        row[path.names[-1]] = walk(records[0], path, ctx) if records else None
    for index, count in enumerate(query.counts):
        counted = count.path
        row[count.alias or f"expr{index}"] = (
            len(records)
            if counted is None
            else sum(1 for r in records if walk(r, counted, ctx) is not None)
        )
    return row
