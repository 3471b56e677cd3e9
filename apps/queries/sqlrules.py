"""The rules of the DP query language, checked on the text and on sqlglot's syntax tree.

``parse_statement`` turns the analyst's text into one parsed ``SELECT`` or refuses it;
``check_forbidden`` refuses what no part of a query may hold; ``PredicateChecker`` checks (and
types) a row predicate, the ``WHERE`` clause. Every refusal is a
``QueryRejected`` whose message names the rule and never quotes a literal of the query.

A predicate may use only what evaluates, on PostgreSQL, SQLite and DuckDB alike, to a value or NULL
for every row, without an error that could depend on the data (a failure that only one person's row
triggers would tell whether that person is in the data): comparisons between values of the same
kind, AND/OR/NOT, IN lists of literals, BETWEEN, IS [NOT] NULL, LIKE/ILIKE with a literal pattern,
arithmetic on numbers (the pushdown turns it total: see ``apps.queries.compiler``), ``||`` on text,
CASE, and the pure functions of ``FUNCTIONS``. No date functions, no casts but to text.
"""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError

from apps.queries.plan import QueryRejected

MAX_SQL_CHARS = 20_000
MAX_NESTING = 16
MAX_DEPTH = 40
MAX_IN_ITEMS = 1_000
MAX_LITERALS = 5_000
MAX_ARITHMETIC = 32
MAX_PATTERN_CHARS = 1_000
MAX_ROUND_DIGITS = 30
MAX_INTEGER = 2**63 - 1

READ = Dialect.get_or_raise(None)

NUMBER, TEXT, BOOL, DATE, NULL, OTHER = "number", "text", "bool", "date", "null", "other"
TYPE_OF_LOGICAL = {"integer": NUMBER, "float": NUMBER, "string": TEXT, "boolean": BOOL, "date": DATE,
                   "datetime": DATE}  # fmt: skip

SET_OPERATIONS = (exp.Union, exp.Intersect, exp.Except)
AGGREGATES = (exp.Count, exp.Sum, exp.Avg)
TEXT_FUNCTIONS = (exp.Lower, exp.Upper, exp.Trim)
NUMBER_FUNCTIONS = (exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sign)
FUNCTIONS = (*TEXT_FUNCTIONS, *NUMBER_FUNCTIONS, exp.Length, exp.Substring, exp.Coalesce, exp.Nullif, exp.Cast,
             exp.Case, exp.If)  # fmt: skip
ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
CAST_TARGETS = {exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR}
SYSTEM_NAMES = frozenset({"information_schema", "pg_catalog", "pg_toast", "sqlite_master", "sqlite_schema",
                          "sqlite_temp_master", "sqlite_temp_schema", "sqlite_sequence", "sqlite_stat1", "temp",
                          "system", "sys", "mysql", "performance_schema"})  # fmt: skip
SYSTEM_PREFIXES = ("pg_", "sqlite_", "duckdb_")


def reject(message: str) -> NoReturn:
    raise QueryRejected(message)


def shown(name: object) -> str:
    """A name of the query as a message may show it: printable, short, never a literal."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return text if len(text) <= 64 else text[:63] + "…"


def function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return shown(node.name)
    return shown(node.sql_name() if isinstance(node, exp.Func) else node.key.upper())


# --- the text -------------------------------------------------------------------------------------


def _check_text(sql: object) -> str:
    if not isinstance(sql, str) or not sql.strip():
        reject("The query is empty: write one SELECT over the dataset.")
    if len(sql) > MAX_SQL_CHARS:
        reject(f"The query is too long: at most {MAX_SQL_CHARS} characters.")
    if any((ord(ch) < 32 and ch not in "\t\n\r") or 0x7F <= ord(ch) < 0xA0 for ch in sql):
        reject("The query contains control characters (such as NUL); only printable text is allowed.")
    return sql


def _tokens(sql: str) -> list:
    try:
        tokens = READ.tokenize(sql)
    except (SqlglotError, ValueError, RecursionError):
        reject("The query is not valid SQL: it could not be split into words.")
    first = next((t.token_type for t in tokens if t.token_type != sqlglot.TokenType.SEMICOLON), None)
    if first is not None and first not in (sqlglot.TokenType.SELECT, sqlglot.TokenType.WITH, sqlglot.TokenType.L_PAREN):
        reject("Only SELECT queries are allowed.")
    covered = 0
    depth = deepest = 0
    for token in tokens:
        if token.token_type == sqlglot.TokenType.PARAMETER or (
            token.token_type == sqlglot.TokenType.VAR and token.text.startswith("$")
        ):
            reject("Parameters and variables are not allowed in a query: write literal values.")
        if token.comments or sql[covered : token.start].strip():
            reject("Comments are not allowed in a query.")
        covered = max(covered, token.end + 1)
        if token.token_type == sqlglot.TokenType.L_PAREN:
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type == sqlglot.TokenType.R_PAREN:
            depth -= 1
    if sql[covered:].strip():
        reject("Comments are not allowed in a query.")
    if not tokens:
        reject("The query is empty: write one SELECT over the dataset.")
    if deepest > MAX_NESTING:
        reject(f"The query is nested too deeply: at most {MAX_NESTING} levels of parentheses.")
    return tokens


def _depth(root: exp.Expression) -> int:
    """The nesting of the tree, not counting chains of AND/OR (which sqlglot walks without recursion)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        step = 0 if isinstance(node, exp.Connector) else 1
        stack.extend((child, depth + step) for child in node.iter_expressions())
    return deepest


def parse_statement(sql: object) -> exp.Select:
    """The one SELECT the text holds, or a refusal naming the rule it breaks."""
    text = _check_text(sql)
    tokens = _tokens(text)
    try:
        statements = [s for s in READ.parser().parse(tokens, text) if s is not None]
    except RecursionError:
        reject(f"The query is nested too deeply: at most {MAX_NESTING} levels of parentheses.")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first.get("line") else ""
        reject(f"The query is not valid SQL{where}.")
    except (SqlglotError, ValueError, TypeError, KeyError, IndexError):
        reject("The query is not valid SQL.")
    if not statements:
        reject("The query is empty: write one SELECT over the dataset.")
    if len(statements) > 1:
        reject("Several statements are not allowed: write one SELECT, without ';' between statements.")
    statement = statements[0]
    if _depth(statement) > MAX_DEPTH:
        reject(f"The query is nested too deeply: at most {MAX_DEPTH} levels of operators.")
    if isinstance(statement, SET_OPERATIONS):
        reject("UNION, INTERSECT and EXCEPT are not allowed: write one SELECT.")
    if not isinstance(statement, exp.Select):
        reject("Only SELECT queries are allowed.")
    return statement


# --- what no part of a query may hold --------------------------------------------------------------


def check_forbidden(node: exp.Expression, *, aggregates_allowed: bool) -> None:
    """Refuse the constructs that are never allowed, wherever they appear under ``node``."""
    for child in node.walk():
        if isinstance(child, exp.With):
            reject("WITH (common table expressions) is not allowed: write one SELECT over the dataset.")
        if isinstance(child, SET_OPERATIONS):
            reject("UNION, INTERSECT and EXCEPT are not allowed: write one SELECT.")
        if isinstance(child, (exp.Select, exp.Subquery, exp.Exists)) and child is not node:
            reject("Subqueries are not allowed: write one SELECT over the dataset.")
        if isinstance(child, exp.Window):
            reject("Window functions (OVER ...) are not allowed.")
        if isinstance(child, (exp.Placeholder, exp.Parameter, exp.SessionParameter)):
            reject("Parameters and variables are not allowed in a query: write literal values.")
        if isinstance(child, exp.Table):
            reject("Only the dataset can be read, once, in FROM.")
        if isinstance(child, exp.Distinct):
            reject("DISTINCT is not allowed.")
        if isinstance(child, AGGREGATES) and not aggregates_allowed:
            reject("Aggregates are not allowed in WHERE or GROUP BY.")
        if isinstance(child, exp.AggFunc) and not isinstance(child, AGGREGATES):
            reject(f"The aggregate {function_name(child)} is not supported: use COUNT, SUM or AVG.")
        if isinstance(child, exp.Func) and not isinstance(child, (*FUNCTIONS, *AGGREGATES, exp.Connector)):
            reject(f"The function {function_name(child)} is not allowed: only pure functions such as LOWER, "
                   "UPPER, TRIM, LENGTH, SUBSTR, ABS, ROUND, FLOOR, CEIL, SIGN, COALESCE and NULLIF are.")  # fmt: skip
        if isinstance(child, (exp.Command, exp.Pragma)):
            reject("Only SELECT queries are allowed.")


def is_system_name(parts: list[str]) -> bool:
    return any(p.lower() in SYSTEM_NAMES or p.lower().startswith(SYSTEM_PREFIXES) for p in parts)


# --- literals -------------------------------------------------------------------------------------


def number_value(node: exp.Literal) -> int | Decimal:
    text = node.this
    if len(text) > 40:
        reject("A number in the query is too long: at most 40 characters.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        reject("A number in the query is not a valid number.")
    if not value.is_finite() or abs(value) > Decimal("1e300"):
        reject("A number in the query is out of range.")
    if value == value.to_integral_value() and "." not in text and "e" not in text.lower():
        if abs(value) > MAX_INTEGER:
            reject("An integer in the query is out of the 64-bit range.")
        return int(value)
    return value


def integer_literal(node: exp.Expression | None, what: str) -> int:
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, node.this
    if not (isinstance(node, exp.Literal) and not node.is_string):
        reject(f"{what} must be an integer literal.")
    value = number_value(node)
    if not isinstance(value, int):
        reject(f"{what} must be an integer literal.")
    return -value if negative else value


def _check_pattern(pattern: str, escape: str | None) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        reject(f"A LIKE pattern is too long: at most {MAX_PATTERN_CHARS} characters.")
    if escape is None:
        if "\\" in pattern:
            reject("A LIKE pattern with a backslash needs an ESCAPE clause (the engines disagree on its meaning).")
        return
    index = 0
    while index < len(pattern):
        if pattern[index] == escape:
            if index + 1 >= len(pattern):
                reject("A LIKE pattern must not end with its escape character.")
            index += 1
        index += 1


# --- predicates -----------------------------------------------------------------------------------

Resolver = Callable[[exp.Column], tuple[str, str]]  # column → (canonical name, kind)


class PredicateChecker:
    """Types a predicate and rewrites its columns to the catalog's names, in place."""

    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve
        self.literals = 0
        self.arithmetic = 0

    def check(self, node: exp.Expression) -> None:
        kind = self.type_of(node)
        if kind not in (BOOL, NULL):
            reject("WHERE needs a condition (a comparison, IN, LIKE, IS NULL...), not a value.")

    def _literal(self) -> None:
        self.literals += 1
        if self.literals > MAX_LITERALS:
            reject(f"The query has too many literal values: at most {MAX_LITERALS}.")

    def _same(self, left: str, right: str, left_node: exp.Expression, right_node: exp.Expression, what: str) -> str:
        if OTHER in (left, right):
            reject(f"{what}: a column of this type can only be tested with IS NULL.")
        if left == NULL:
            return right
        if right == NULL or left == right:
            return left
        if {left, right} == {TEXT, DATE}:
            text_node = left_node if left == TEXT else right_node
            if isinstance(text_node, exp.Literal):
                return DATE
        reject(f"{what} compares a {left} with a {right}: compare values of the same kind.")

    def type_of(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return self.type_of(node.this)
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                reject("SELECT * is not allowed.")
            name, logical = self.resolve(node)
            node.set("this", exp.to_identifier(name, quoted=True))
            for part in ("table", "db", "catalog"):
                node.set(part, None)
            return TYPE_OF_LOGICAL.get(logical, OTHER)
        if isinstance(node, exp.Literal):
            self._literal()
            if node.is_string:
                if len(node.this) > MAX_SQL_CHARS:
                    reject("A text literal is too long.")
                return TEXT
            number_value(node)
            return NUMBER
        if isinstance(node, exp.Boolean):
            return BOOL
        if isinstance(node, exp.Null):
            return NULL
        if isinstance(node, exp.Neg):
            if isinstance(node.this, exp.Literal) and not node.this.is_string:
                self._literal()
                number_value(node.this)
                return NUMBER
            self._arithmetic()
            return self._need(node.this, NUMBER, "Unary minus")
        if isinstance(node, (exp.And, exp.Or)):
            for operand in node.flatten():
                self._need(operand, BOOL, node.key.upper())
            return BOOL
        if isinstance(node, exp.Not):
            self._need(node.this, BOOL, "NOT")
            return BOOL
        if isinstance(node, COMPARISONS):
            self._same(self.type_of(node.this), self.type_of(node.expression), node.this, node.expression,
                       "A comparison")  # fmt: skip
            return BOOL
        if isinstance(node, exp.Is):
            kind = self.type_of(node.this)
            if isinstance(node.expression, exp.Boolean):
                if kind not in (BOOL, NULL):
                    reject("IS TRUE / IS FALSE needs a condition.")
            elif not isinstance(node.expression, exp.Null):
                reject("IS is only allowed as IS NULL, IS NOT NULL, IS TRUE or IS FALSE.")
            return BOOL
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, exp.Between):
            if node.args.get("symmetric"):
                reject("BETWEEN SYMMETRIC is not allowed.")
            kind = self.type_of(node.this)
            self._same(kind, self.type_of(node.args["low"]), node.this, node.args["low"], "BETWEEN")
            self._same(kind, self.type_of(node.args["high"]), node.this, node.args["high"], "BETWEEN")
            return BOOL
        if isinstance(node, exp.Escape) and isinstance(node.this, (exp.Like, exp.ILike)):
            escape = node.expression
            if not (isinstance(escape, exp.Literal) and escape.is_string and len(escape.this) == 1):
                reject("ESCAPE takes one character in quotes.")
            self._literal()
            return self._like(node.this, escape.this)
        if isinstance(node, (exp.Like, exp.ILike)):
            return self._like(node, None)
        if isinstance(node, ARITHMETIC):
            self._arithmetic()
            self._need(node.this, NUMBER, "Arithmetic")
            self._need(node.expression, NUMBER, "Arithmetic")
            return NUMBER
        if isinstance(node, exp.DPipe):
            self._need(node.this, TEXT, "||")
            self._need(node.expression, TEXT, "||")
            return TEXT
        if isinstance(node, exp.Case):
            return self._case(node)
        if isinstance(node, FUNCTIONS):
            return self._function(node)
        check_forbidden(node, aggregates_allowed=False)
        reject(f"{shown(node.key.upper())} is not allowed in a condition.")

    def _arithmetic(self) -> None:
        self.arithmetic += 1
        if self.arithmetic > MAX_ARITHMETIC:
            reject(f"The query has too many arithmetic operations: at most {MAX_ARITHMETIC}.")

    def _need(self, node: exp.Expression | None, kind: str, what: str) -> str:
        if node is None:
            reject(f"{what} is missing an operand.")
        found = self.type_of(node)
        if found not in (kind, NULL):
            reject(f"{what} needs a {kind}, not a {found}.")
        return found

    def _in(self, node: exp.In) -> str:
        if any(node.args.get(key) for key in ("query", "unnest", "field")):
            reject("IN takes a list of literal values, not a subquery.")
        items = node.expressions
        if not items:
            reject("IN needs at least one value.")
        if len(items) > MAX_IN_ITEMS:
            reject(f"An IN list is too long: at most {MAX_IN_ITEMS} values.")
        kind = self.type_of(node.this)
        for item in items:
            literal = item.this if isinstance(item, exp.Neg) else item
            if not isinstance(literal, (exp.Literal, exp.Null, exp.Boolean)):
                reject("IN takes a list of literal values.")
            self._same(kind, self.type_of(item), node.this, item, "IN")
        return BOOL

    def _like(self, node: exp.Expression, escape: str | None) -> str:
        self._need(node.this, TEXT, "LIKE")
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            reject("LIKE takes a pattern in quotes.")
        self._literal()
        _check_pattern(pattern.this, escape)
        return BOOL

    def _case(self, node: exp.Case) -> str:
        subject = node.this
        subject_kind = self.type_of(subject) if subject is not None else None
        result = NULL
        for branch in node.args.get("ifs") or []:
            if not isinstance(branch, exp.If):
                reject("CASE takes WHEN ... THEN ... branches.")
            if subject is not None:
                self._same(subject_kind or NULL, self.type_of(branch.this), subject, branch.this, "CASE")
            else:
                self._need(branch.this, BOOL, "CASE WHEN")
            value = branch.args.get("true")
            result = self._same(result, self.type_of(value), value, value, "The branches of CASE")
        default = node.args.get("default")
        if default is not None:
            result = self._same(result, self.type_of(default), default, default, "The branches of CASE")
        return result

    def _function(self, node: exp.Expression) -> str:
        name = function_name(node)
        if isinstance(node, exp.Cast):
            to = node.args.get("to")
            if not isinstance(to, exp.DataType) or to.this not in CAST_TARGETS or to.expressions:
                reject("CAST is only allowed to TEXT or VARCHAR (other casts can fail on some rows).")
            if node.args.get("format") or node.args.get("safe"):
                reject("CAST is only allowed to TEXT or VARCHAR.")
            self.type_of(node.this)
            return TEXT
        if isinstance(node, TEXT_FUNCTIONS):
            if isinstance(node, exp.Trim) and (node.args.get("expression") is not None or node.args.get("collation")):
                reject("TRIM is only allowed on spaces: TRIM(x).")
            self._need(node.this, TEXT, name)
            return TEXT
        if isinstance(node, exp.Length):
            self._need(node.this, TEXT, name)
            return NUMBER
        if isinstance(node, exp.Substring):
            self._need(node.this, TEXT, name)
            integer_literal(node.args.get("start"), "The start of SUBSTR")
            if node.args.get("length") is not None and integer_literal(node.args["length"], "The length of SUBSTR") < 0:
                reject("The length of SUBSTR must not be negative.")
            return TEXT
        if isinstance(node, exp.Round):
            self._need(node.this, NUMBER, name)
            if node.args.get("decimals") is not None:
                digits = integer_literal(node.args["decimals"], "The digits of ROUND")
                if abs(digits) > MAX_ROUND_DIGITS:
                    reject(f"The digits of ROUND must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}.")
            if any(node.args.get(k) for k in ("truncate", "casts_non_integer_decimals")):
                reject("ROUND takes a number and at most a number of digits.")
            return NUMBER
        if isinstance(node, NUMBER_FUNCTIONS):
            if any(node.args.get(k) is not None for k in ("decimals", "to", "expression")):
                reject(f"{name} takes one number.")
            self._need(node.this, NUMBER, name)
            return NUMBER
        if isinstance(node, exp.Coalesce):
            result = self.type_of(node.this)
            for item in node.expressions:
                result = self._same(result, self.type_of(item), node.this, item, "COALESCE")
            return result
        if isinstance(node, exp.Nullif):
            return self._same(self.type_of(node.this), self.type_of(node.expression), node.this, node.expression,
                              "NULLIF")  # fmt: skip
        reject(f"The function {name} is not allowed here; use CASE WHEN ... THEN ... END.")


def parse_trusted(sql: str) -> exp.Select:
    """Parse SQL this module wrote (a plan's normalized SQL)."""
    statement = sqlglot.parse_one(sql, read=READ)
    if not isinstance(statement, exp.Select):
        reject("The stored plan is not valid.")
    return statement
