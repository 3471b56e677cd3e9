"""The DP query compiler: an analyst's SQL → a ``QueryPlan`` → SQL the backend runs.

``compile_dp_query(sql, dataset=...)`` parses the text with sqlglot, checks it against the rules of
the language (``apps.queries.sqlrules``) and the dataset's catalog, and returns the plan, or raises
``QueryRejected`` naming the broken rule. ``pushdown_sql(plan, dialect=...)`` writes the SQL that
computes the plan's measures per group in PostgreSQL, SQLite or DuckDB, with bound parameters.

The language: one ``SELECT`` over the dataset (its table name or its address, an alias allowed) of
``COUNT(*)``, ``COUNT(col)``, ``SUM(col)``, ``AVG(col)`` (each with an optional ``AS`` name) and the
``GROUP BY`` columns; a ``WHERE`` row predicate; ``GROUP BY`` plain columns. ``ORDER BY``, ``LIMIT``,
``OFFSET``, ``HAVING`` and ``DISTINCT`` are refused, not ignored: the answer lists every group in the
order of the declared keys, and filtering or sorting noisy values is post-processing for the analyst.

Neighbouring datasets differ by one privacy unit (``dataset.privacy_unit_column``), added or removed.
Let k = ``dataset.max_rows_per_unit``. The pushdown keeps, after the WHERE and the declared-keys
filter and before grouping, at most k rows per unit: ``ROW_NUMBER() OVER (PARTITION BY unit ORDER BY
the columns the query reads) <= k``. The order makes the kept rows a function of the unit's own rows
(an engine's arbitrary order could change another unit's pick when one unit is added). Rows whose
unit is NULL count as one unit. So one unit adds or removes at most k rows, and so touches at most k
groups. Per measure, over the vector of all groups:

- a count (``COUNT(*)``, or ``COUNT(col)``: non-NULL values): each row changes one group by 1, so
  L1 = k and L2 = k (the worst case puts the k rows in one group);
- a sum of values clamped to [L, U], M = max(|L|, |U|): each row changes one group by at most M,
  so L1 = L2 = k·M, in raw units (see below);
- AVG(col) = SUM(col) / COUNT(col), post-processing of the two noisy measures; identical measures
  of several outputs are computed once.

Integer columns are clamped to [ceil(L), floor(U)] and summed as integers. Float columns are summed
in fixed point: the backend sums ``CAST(ROUND(clamped * 2^s) AS INTEGER)``, the true sum is raw / 2^s
and M in raw units is ceil(M · 2^s). Every clamped (raw) value must fit a signed 32-bit integer
(M ≤ 2^31 - 1; the scale s ≤ 32 is the largest that keeps ceil(M · 2^s) there), so a sum of up to
2^31 rows stays below 2^62: bounds wider than that are refused. Sums are exact and never overflow,
on every engine, whatever the data (no float accumulation error, no data-dependent error), and
PostgreSQL sums 32-bit values with a 64-bit accumulator (faster than its NUMERIC one for BIGINT).

One row per unit, when the backend enforces it, needs no bounding: the plan says ``unit_unique`` only
when k = 1 and the privacy unit column is NOT NULL with a single-column PRIMARY KEY or UNIQUE
constraint, as the harvest read them from the backend's schema metadata (``Column.is_unique``,
``Column.nullable``); an owner cannot claim it. The pushdown then has no window, and the
declared-keys filter applies to the groups after aggregation, on the key's text (what the release
reads): ``SELECT .. FROM (grouped query OFFSET 0) WHERE key IN (..)``. Each group's aggregates read
only that group's rows, so the released values are the same as with the filter before grouping;
the rows are read once, unfiltered, like raw SQL does. ``OFFSET 0`` (PostgreSQL only) keeps the
planner from pushing the filter back below the aggregation.

A predicate must not fail on some rows only (an error that only one person's row triggers would
tell that the person is there). The compiler refuses what can fail at run time (casts but to text,
LIKE patterns the engines read differently, SUBSTR with a negative length...) and the pushdown makes
the rest total: every operand of arithmetic and of ABS/ROUND/FLOOR/CEIL/SIGN is cast to a type that
does not overflow (PostgreSQL NUMERIC, DuckDB DOUBLE, SQLite REAL), and every divisor is wrapped in
NULLIF(divisor, 0); on SQLite, FLOOR(x) is written -CEIL(-x), as SQLAlchemy replaces SQLite's
floor() by Python's, which fails on NULL. Predicates otherwise evaluate with the backend's semantics.

The pushdown SQL uses SQLAlchemy ``text()`` binds (``:p0``) for every text literal of the analyst and
every declared text key; numbers are re-rendered from their parsed values; table and column names
come from the catalog, quoted by sqlglot. It returns one row per group: the keys, then each measure
as an integer (``COUNT``, or ``CAST(COALESCE(SUM(..), 0) AS BIGINT)``).

Group keys: a column with declared categories outputs exactly those keys; rows whose value is not
declared, or NULL, are dropped in the pushdown. Other columns (not float) need a DP key release
(``GroupBy.declared_keys`` is None) and keep NULL as a key. Keys come back as text.

``normalized_sql`` is sqlglot's rendering of the checked query with names resolved to the catalog
(quoted), every output named, and the dataset's table in FROM: texts that differ only in whitespace,
case of keywords and unquoted names, aliases of the table, or default output names give one string.
"""

from decimal import ROUND_CEILING, Decimal
from math import ceil, floor
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from apps.catalog.models import Column, Dataset
from apps.domains.models import Backend
from apps.queries.plan import GroupBy, Measure, OutputColumn, QueryPlan, QueryRejected
from apps.queries.sqlrules import (
    AGGREGATES,
    ARITHMETIC,
    COMPARISONS,
    FUNCTIONS,
    NUMBER_FUNCTIONS,
    READ,
    PredicateChecker,
    check_forbidden,
    is_system_name,
    parse_statement,
    parse_trusted,
    reject,
    shown,
)

DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "duckdb": "duckdb"}
SAFE_NUMBER = {"postgresql": "DECIMAL", "sqlite": "REAL", "duckdb": "DOUBLE"}
MAX_RAW_MAGNITUDE = 2**31 - 1
MAX_SCALE = 32
MAX_OUTPUTS = 64
MAX_GROUP_COLUMNS = 4
DECLARED_KEY_TYPES = {Column.LogicalType.STRING, Column.LogicalType.INTEGER}
RELEASED_KEY_TYPES = {Column.LogicalType.STRING, Column.LogicalType.INTEGER, Column.LogicalType.BOOLEAN,
                      Column.LogicalType.DATE, Column.LogicalType.DATETIME}  # fmt: skip

ALLOWED_CLAUSES = {"expressions", "from_", "where", "group"}
CLAUSE_RULES = {
    "with_": "WITH (common table expressions) is not allowed: write one SELECT over the dataset.",
    "distinct": "DISTINCT is not allowed.",
    "order": "ORDER BY is not supported: the answer lists the groups in the order of their declared keys.",
    "limit": "LIMIT is not supported: every group is answered.",
    "offset": "OFFSET is not supported: every group is answered.",
    "having": "HAVING is not supported: filter the noisy answer yourself (it is post-processing).",
    "joins": "Joins are not allowed: query the one dataset.",
    "laterals": "Joins are not allowed: query the one dataset.",
    "windows": "Window functions (OVER ...) are not allowed.",
    "qualify": "Window functions (QUALIFY) are not allowed.",
    "into": "SELECT INTO is not allowed: a query only reads.",
    "locks": "Locking clauses (FOR UPDATE ...) are not allowed: a query only reads.",
    "sample": "Sampling clauses (TABLESAMPLE) are not allowed.",
}


def dialect_for(backend: Backend | None) -> str:
    """The pushdown dialect of a backend: "postgresql", "sqlite" or "duckdb"."""
    if backend is None:
        raise QueryRejected("The dataset has no backend to run queries on.")
    kind = backend.kind
    if kind == Backend.Kind.POSTGRESQL:
        return "postgresql"
    if kind == Backend.Kind.SQLITE:
        return "sqlite"
    if kind in (Backend.Kind.DUCKDB, Backend.Kind.DUCKDB_FOLDER):
        return "duckdb"
    if kind == Backend.Kind.SQLALCHEMY:
        driver = backend.url.strip().split(":", 1)[0].split("+", 1)[0].lower()
        found = {"postgresql": "postgresql", "postgres": "postgresql", "sqlite": "sqlite", "duckdb": "duckdb"}
        if driver in found:
            return found[driver]
    raise QueryRejected("DP queries run on PostgreSQL, SQLite and DuckDB backends only.")


# --- compiling ------------------------------------------------------------------------------------


def compile_dp_query(sql: str, *, dataset: Dataset) -> QueryPlan:
    """The plan of ``sql`` on ``dataset``; raises ``QueryRejected`` naming the rule it breaks."""
    try:
        return _Compiler(dataset).compile(sql)
    except RecursionError:
        raise QueryRejected("The query is nested too deeply.") from None


class _Compiler:
    def __init__(self, dataset: Dataset) -> None:
        if dataset.removed_at is not None:
            reject("This dataset is no longer in its backend: it cannot be queried.")
        self.dataset = dataset
        self.columns = {c.name: c for c in dataset.columns.filter(removed_at__isnull=True)}
        self.unit = dataset.privacy_unit_column
        if not self.unit:
            reject("This dataset declares no privacy unit: its owner must set one before DP queries are allowed.")
        if self.unit not in self.columns:
            reject("The privacy unit column of this dataset is not one of its columns: its owner must fix it.")
        self.k = int(dataset.max_rows_per_unit)
        unit = self.columns[self.unit]
        self.unit_unique = self.k == 1 and unit.is_unique and not unit.nullable
        self.qualifiers: list[list[str]] = []

    def compile(self, sql: str) -> QueryPlan:
        statement = parse_statement(sql)
        self._check_clauses(statement)
        self._check_from(statement)
        items = statement.expressions
        where = statement.args.get("where")
        group = statement.args.get("group")
        for item in items:
            check_forbidden(item, aggregates_allowed=True)
        for clause in (where, group):
            if clause is not None:
                check_forbidden(clause, aggregates_allowed=False)

        outputs = self._outputs(items)
        group_by = self._group_by(group)
        self._match_groups(outputs, group_by)
        if all(kind == "group" for _, kind, _ in outputs):
            reject("Select at least one aggregate: COUNT, SUM or AVG.")
        if where is not None:
            PredicateChecker(self._resolve).check(where.this)

        measures: dict[tuple[str, str | None], Measure] = {}
        plan_outputs = tuple(self._output(o, measures) for o in outputs)
        return QueryPlan(
            dataset_address=self.dataset.address,
            dataset_version=self.dataset.version,
            normalized_sql=self._normalized(outputs, where, group_by),
            outputs=plan_outputs,
            measures=tuple(measures.values()),
            group_by=tuple(group_by),
            privacy_unit=self.unit,
            max_rows_per_unit=self.k,
            notes=self._notes(measures.values(), group_by),
            table_schema=self.dataset.table_schema,
            table_name=self.dataset.table_name,
            unit_unique=self.unit_unique,
        )

    # clauses and FROM

    def _check_clauses(self, statement: exp.Select) -> None:
        for key, value in statement.args.items():
            if key in ALLOWED_CLAUSES or not value:
                continue
            reject(CLAUSE_RULES.get(key, f"The clause {shown(key.rstrip('_').upper())} is not allowed."))
        if not statement.expressions:
            reject("Select at least one aggregate: COUNT, SUM or AVG.")

    def _check_from(self, statement: exp.Select) -> None:
        source = statement.args.get("from_")
        if source is None:
            reject(f"The query must read FROM the dataset ({self.dataset.address}).")
        table = source.this
        if isinstance(table, exp.Subquery):
            reject("Subqueries are not allowed: write one SELECT over the dataset.")
        if not isinstance(table, exp.Table):
            reject("FROM must name the dataset.")
        for key, value in table.args.items():
            if key not in ("this", "db", "catalog", "alias") and value:
                reject("Joins are not allowed: query the one dataset." if key in ("joins", "laterals")
                       else f"{shown(key.upper())} is not allowed in FROM.")  # fmt: skip
        parts = self._table_parts(table)
        if not self._is_dataset(parts):
            if is_system_name(parts):
                reject("System catalogs are not allowed: only the dataset can be queried.")
            other = shown(".".join(parts))
            reject(f"Only the dataset {self.dataset.address} can be queried; {other} is another table.")
        alias = table.args.get("alias")
        if alias is not None:
            if alias.args.get("columns"):
                reject("A table alias cannot rename columns.")
            self.qualifiers = [[alias.name]]
        else:
            self.qualifiers = [parts[-n:] for n in range(1, len(parts) + 1)]

    def _table_parts(self, table: exp.Table) -> list[str]:
        name = table.this
        if isinstance(name, exp.Identifier):
            names = [name]
        elif isinstance(name, exp.Dot):
            names = [part for part in name.flatten()]
        else:
            function = name.sql_name() if isinstance(name, exp.Func) and not isinstance(name, exp.Anonymous) else None
            label = shown(function or getattr(name, "name", "") or "this")
            reject(f"Table functions such as {label} are not allowed in FROM: name the dataset.")
        if not all(isinstance(p, exp.Identifier) for p in names):
            reject("FROM must name the dataset.")
        prefix = [table.args.get("catalog"), table.args.get("db")]
        return [p.name for p in prefix if p is not None and p.name] + [p.name for p in names]

    def _is_dataset(self, parts: list[str]) -> bool:
        candidates = [[self.dataset.table_name], self.dataset.address.split(".")]
        if self.dataset.table_schema:
            candidates.append([self.dataset.table_schema, self.dataset.table_name])
        return any(parts == c or [p.lower() for p in parts] == [x.lower() for x in c] for c in candidates)

    # columns

    def _resolve(self, node: exp.Column) -> tuple[str, str]:
        column = self._column(node)
        return column.name, column.logical_type

    def _column(self, node: exp.Column) -> Column:
        qualifier = [node.args[p].name for p in ("catalog", "db", "table") if node.args.get(p) is not None]
        if qualifier and not any([q.lower() for q in qualifier] == [x.lower() for x in ok] for ok in self.qualifiers):
            reject(f"Unknown table or alias {shown('.'.join(qualifier))}: only the dataset can be queried.")
        identifier = node.this
        if not isinstance(identifier, exp.Identifier):
            reject("SELECT * is not allowed." if isinstance(identifier, exp.Star) else "A column name is not valid.")
        name = identifier.name
        if name in self.columns:
            return self.columns[name]
        if not identifier.quoted:
            folded = [c for n, c in self.columns.items() if n.lower() == name.lower()]
            if len(folded) == 1:
                return folded[0]
        reject(f"Unknown column {shown(name)}: the dataset has no such column.")

    # outputs

    def _outputs(self, items: list[exp.Expression]) -> list[tuple[str, str, Column | None]]:
        """(output name, kind, column) per select item; kind is group, count, sum or avg."""
        if len(items) > MAX_OUTPUTS:
            reject(f"Too many outputs: at most {MAX_OUTPUTS}.")
        outputs: list[tuple[str, str, Column | None]] = []
        for item in items:
            alias = None
            if isinstance(item, exp.Alias):
                alias = item.args["alias"].name if item.args["alias"].quoted else item.args["alias"].name.lower()
                item = item.this
            kind, column = self._item(item)
            default = "count" if column is None else column.name if kind == "group" else f"{kind}_{column.name}"
            outputs.append((alias if alias else default, kind, column))
        names = [name for name, _, _ in outputs]
        for name in names:
            if not name.strip() or len(name) > 200:
                reject("An output name must be between 1 and 200 characters.")
            if names.count(name) > 1:
                reject(f"Two outputs are named {shown(name)}: name them apart with AS.")
        return outputs

    def _item(self, item: exp.Expression) -> tuple[str, Column | None]:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            reject("SELECT * is not allowed: ask for aggregates (COUNT, SUM, AVG) per group.")
        if isinstance(item, exp.Column):
            return "group", self._column(item)
        if isinstance(item, exp.Count):
            if item.expressions:
                reject("COUNT takes one column or *.")
            if isinstance(item.this, exp.Star):
                return "count", None
            if not isinstance(item.this, exp.Column):
                reject("COUNT takes a column name or *, not an expression.")
            return "count", self._column(item.this)
        if isinstance(item, (exp.Sum, exp.Avg)):
            kind = "sum" if isinstance(item, exp.Sum) else "avg"
            if not isinstance(item.this, exp.Column):
                reject(f"{kind.upper()} takes a column name, not an expression.")
            return kind, self._summable(self._column(item.this), kind.upper())
        if isinstance(item, exp.Filter):
            reject("FILTER (WHERE ...) on aggregates is not allowed: use WHERE.")
        if item.find(*AGGREGATES):
            reject("Arithmetic on aggregates is not supported: select COUNT, SUM or AVG as they are.")
        if item.find(exp.Column):
            reject("Row-level selects are not allowed: select aggregates (COUNT, SUM, AVG) and GROUP BY columns.")
        reject("Select aggregates (COUNT, SUM, AVG) and GROUP BY columns, not constant values.")

    def _summable(self, column: Column, what: str) -> Column:
        if column.name == self.unit:
            reject(f"{what} of the privacy unit column {shown(column.name)} is not allowed.")
        if column.classification == Column.Classification.IDENTIFIER:
            reject(f"{what} of the identifier column {shown(column.name)} is not allowed.")
        if not column.is_numeric:
            reject(f"{what} needs a numeric column; {shown(column.name)} is not numeric.")
        if column.lower_bound is None or column.upper_bound is None:
            reject(f"Declare bounds for {shown(column.name)}: {what} needs its declared lower and upper bound.")
        return column

    # GROUP BY

    def _group_by(self, group: exp.Group | None) -> list[GroupBy]:
        if group is None:
            return []
        for key, value in group.args.items():
            if key != "expressions" and value:
                reject("ROLLUP, CUBE, GROUPING SETS and GROUP BY ALL are not allowed: list the columns.")
        if len(group.expressions) > MAX_GROUP_COLUMNS:
            reject(f"GROUP BY takes at most {MAX_GROUP_COLUMNS} columns.")
        result: list[GroupBy] = []
        for node in group.expressions:
            if isinstance(node, (exp.Rollup, exp.Cube, exp.GroupingSets)):
                reject("ROLLUP, CUBE, GROUPING SETS and GROUP BY ALL are not allowed: list the columns.")
            if isinstance(node, exp.Literal):
                reject("GROUP BY takes column names, not positions.")
            if not isinstance(node, exp.Column):
                reject("GROUP BY takes column names, not expressions.")
            column = self._column(node)
            if any(g.column == column.name for g in result):
                reject(f"GROUP BY lists {shown(column.name)} twice.")
            result.append(self._group(column))
        return result

    def _group(self, column: Column) -> GroupBy:
        name = shown(column.name)
        if column.name == self.unit:
            reject(f"GROUP BY the privacy unit column {name} is not allowed: it would answer one group per person.")
        if column.classification == Column.Classification.IDENTIFIER:
            reject(f"GROUP BY the identifier column {name} is not allowed.")
        declared = [c for c in (column.categories or []) if c is not None]
        if declared:
            if column.logical_type not in DECLARED_KEY_TYPES:
                reject(f"GROUP BY {name}: declared categories are supported on text and integer columns only.")
            return GroupBy(column.name, self._declared_keys(column, declared), column.logical_type)
        if column.logical_type not in RELEASED_KEY_TYPES:
            reject(f"GROUP BY {name} is not supported: declare its categories, or group by another column.")
        return GroupBy(column.name, None, column.logical_type)

    def _declared_keys(self, column: Column, declared: list[Any]) -> tuple[str, ...]:
        keys: list[str] = []
        for value in declared:
            if column.logical_type == Column.LogicalType.INTEGER:
                try:
                    key = str(int(str(value).strip()))
                except ValueError:
                    reject(
                        f"The declared categories of {shown(column.name)} are not all integers: "
                        "its owner must fix them."
                    )
            else:
                key = str(value)
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    def _match_groups(self, outputs: list[tuple[str, str, Column | None]], group_by: list[GroupBy]) -> None:
        grouped = {g.column for g in group_by}
        selected = set()
        for _, kind, column in outputs:
            if kind == "group" and column is not None:
                if column.name not in grouped:
                    reject(f"Row-level selects are not allowed: {shown(column.name)} is neither aggregated nor in "
                           "GROUP BY.")  # fmt: skip
                if column.name in selected:
                    reject(f"{shown(column.name)} is selected twice.")
                selected.add(column.name)
        for name in grouped - selected:
            reject(f"Select the GROUP BY column {shown(name)} too, so that each answer row says its group.")

    # measures

    def _output(self, output: tuple[str, str, Column | None], measures: dict) -> OutputColumn:
        name, kind, column = output
        if kind == "group":
            return OutputColumn(name=name, kind="group", source=column.name if column else None)
        source = column.name if column is not None else None
        if kind == "count":
            return OutputColumn(name=name, kind="count", source=source, measures=(self._count(column, measures),))
        if kind == "sum":
            return OutputColumn(name=name, kind="sum", source=source, measures=(self._sum(column, measures),))
        return OutputColumn(
            name=name, kind="avg", source=source, measures=(self._sum(column, measures), self._count(column, measures))
        )

    def _count(self, column: Column | None, measures: dict) -> str:
        key = ("count", column.name if column else None)
        if key not in measures:
            k = Decimal(self.k)
            name = "count" if column is None else f"count_{column.name}"
            measures[key] = Measure(name=name, kind="count", column=key[1], l1_sensitivity=k, l2_sensitivity=k)
        return measures[key].name

    def _sum(self, column: Column, measures: dict) -> str:
        key = ("sum", column.name)
        if key not in measures:
            measures[key] = self._sum_measure(column)
        return measures[key].name

    def _sum_measure(self, column: Column) -> Measure:
        lower, upper = Decimal(column.lower_bound), Decimal(column.upper_bound)
        name = shown(column.name)
        if column.logical_type == Column.LogicalType.INTEGER:
            low, high = Decimal(ceil(lower)), Decimal(floor(upper))
            if low > high:
                reject(f"The declared bounds of {name} hold no integer: its owner must fix them.")
            magnitude = max(abs(low), abs(high))
            if magnitude > MAX_RAW_MAGNITUDE:
                reject(f"The declared bounds of {name} are too wide for an exact sum (at most ±{MAX_RAW_MAGNITUDE}).")
            scale, raw = 0, magnitude
        else:
            low, high = _plain(lower), _plain(upper)
            magnitude = max(abs(low), abs(high))
            scale = next((s for s in range(MAX_SCALE, -1, -1) if _raw(magnitude, s) <= MAX_RAW_MAGNITUDE), None)
            if scale is None:
                reject(f"The declared bounds of {name} are too wide for an exact sum (at most ±{MAX_RAW_MAGNITUDE}).")
            raw = _raw(magnitude, scale)
        sensitivity = Decimal(self.k) * raw
        return Measure(
            name=f"sum_{column.name}", kind="sum", column=column.name, lower=_plain(low), upper=_plain(high),
            integer=column.logical_type == Column.LogicalType.INTEGER, scale=scale,
            l1_sensitivity=sensitivity, l2_sensitivity=sensitivity,
        )  # fmt: skip

    # normalized SQL and notes

    def _normalized(self, outputs: list, where: exp.Where | None, group_by: list[GroupBy]) -> str:
        items = []
        for name, kind, column in outputs:
            ref = exp.column(column.name, quoted=True) if column is not None else exp.Star()
            node = ref if kind == "group" else {"count": exp.Count, "sum": exp.Sum, "avg": exp.Avg}[kind](this=ref)
            items.append(exp.alias_(node, exp.to_identifier(name, quoted=True)))
        table = exp.Table(this=exp.to_identifier(self.dataset.table_name, quoted=True))
        select = exp.Select(expressions=items).from_(table)
        if where is not None:
            select.set("where", exp.Where(this=where.this))
        if group_by:
            select.set("group", exp.Group(expressions=[exp.column(g.column, quoted=True) for g in group_by]))
        return select.sql(dialect=READ)

    def _notes(self, measures: Any, group_by: list[GroupBy]) -> tuple[str, ...]:
        if self.unit_unique:
            notes = [f"Each {self.unit} has one row: the backend enforces it (a primary key or unique constraint)."]
        else:
            notes = [f"Each {self.unit} contributes at most {self.k} row{'s' if self.k != 1 else ''}; "
                     "further rows are left out before aggregation."]  # fmt: skip
        for m in measures:
            if m.kind == "sum":
                notes.append(f"{m.column} is clamped to [{m.lower}, {m.upper}] before summing.")
        for g in group_by:
            if g.declared_keys is not None:
                notes.append(f"Groups of {g.column} are its declared categories; other values and NULL are left out.")
            else:
                notes.append(f"Groups of {g.column} are not declared: only groups a DP threshold releases are shown.")
        return tuple(notes)


def _plain(value: Decimal) -> Decimal:
    return Decimal(format(value.normalize(), "f"))


def _raw(magnitude: Decimal, scale: int) -> Decimal:
    return (magnitude * (2**scale)).to_integral_value(rounding=ROUND_CEILING)


# --- pushdown -------------------------------------------------------------------------------------

_TRUSTED_NODES = (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.And, exp.Or,
                  exp.Not, *COMPARISONS, exp.Is, exp.In, exp.Between, exp.Escape, exp.Like, exp.ILike, *ARITHMETIC,
                  exp.Neg, exp.DPipe, *FUNCTIONS, exp.DataType)  # fmt: skip


def pushdown_sql(plan: QueryPlan, *, dialect: str) -> tuple[str, dict[str, Any]]:
    """The SQL (SQLAlchemy ``text()`` binds, ``:name``) and its parameters: one row per group, the group
    columns in ``plan.group_by`` order, then one value per ``plan.measures`` (aliased by name)."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect is one of {sorted(DIALECTS)}")
    if not plan.table_name or not plan.privacy_unit:
        raise QueryRejected("The stored plan is not valid: compile the query again.")
    writer = _Pushdown(dialect)
    try:
        return writer.sql(plan), writer.params
    except RecursionError:
        raise QueryRejected("The stored plan is nested too deeply: compile the query again.") from None


class _Pushdown:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.params: dict[str, Any] = {}

    def _param(self, prefix: str, value: Any) -> exp.Placeholder:
        name = f"{prefix}{len(self.params)}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def sql(self, plan: QueryPlan) -> str:
        """Bounded: SELECT keys, aggregates FROM (rows after WHERE and the key filter, with their row
        number per unit) WHERE row number <= k GROUP BY keys. Unbounded (one row per unit enforced):
        SELECT keys, aggregates FROM (rows after WHERE) GROUP BY keys, then the key filter on the groups."""
        bounded = not (plan.unit_unique and plan.max_rows_per_unit == 1)
        conditions = []
        declared: list[int] = []
        where = parse_trusted(plan.normalized_sql).args.get("where")
        if where is not None:
            _check_trusted(where.this)
            conditions.append(exp.Paren(this=self._total(where.this)))
        projections: list[exp.Expression] = []
        order: list[str] = []
        for index, group in enumerate(plan.group_by):
            ref = _ref(group.column)
            key = ref if group.logical_type == Column.LogicalType.STRING else _cast(ref, "TEXT")
            projections.append(exp.alias_(key, f"__dp_g{index}", quoted=True))
            order.append(group.column)
            if group.declared_keys is not None and bounded:
                conditions.append(exp.In(this=_ref(group.column), expressions=self._keys(group)))
            elif group.declared_keys is not None:
                declared.append(index)
        aggregates = []
        for index, measure in enumerate(plan.measures):
            alias = f"__dp_m{index}"
            if measure.column is not None:
                value = _ref(measure.column) if measure.kind == "count" else self._sum_value(measure)
                projections.append(exp.alias_(value, alias, quoted=True))
                order.append(measure.column)
            aggregates.append(exp.alias_(_aggregate(measure, alias), measure.name, quoted=True))

        if bounded:
            projections.append(exp.alias_(_row_number(plan.privacy_unit, order), "__dp_rn", quoted=True))
        elif not projections:
            projections.append(exp.alias_(exp.Literal.number(1), "__dp_row", quoted=True))
        inner = exp.Select(expressions=projections).from_(_table(plan))
        if conditions:
            inner = inner.where(exp.and_(*conditions, copy=False), copy=False)
        keys = [exp.alias_(_ref(f"__dp_g{i}"), g.column, quoted=True) for i, g in enumerate(plan.group_by)]
        outer = exp.Select(expressions=[*keys, *aggregates]).from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("__dp_bounded", quoted=True)))
        )
        if bounded:
            k = exp.Literal.number(int(plan.max_rows_per_unit))
            outer = outer.where(exp.LTE(this=_ref("__dp_rn"), expression=k))
        if plan.group_by:
            outer.set("group", exp.Group(expressions=[exp.Literal.number(i + 1) for i in range(len(plan.group_by))]))
        if declared:
            outer = self._filter_groups(outer, plan, declared)
        return _generator(self.dialect).generate(outer)

    def _filter_groups(self, grouped: exp.Select, plan: QueryPlan, declared: list[int]) -> exp.Select:
        """SELECT the outputs FROM (grouped, its outputs renamed __dp_o0, ...) WHERE each declared key
        column is one of its keys, compared as the text the release reads (``str`` of the key)."""
        names = [*(g.column for g in plan.group_by), *(m.name for m in plan.measures)]
        for index, item in enumerate(grouped.expressions):
            item.set("alias", exp.to_identifier(f"__dp_o{index}", quoted=True))
        if self.dialect == "postgresql":
            # A fence: PostgreSQL would push the key filter down into the grouped query's WHERE.
            grouped.set("offset", exp.Offset(expression=exp.Literal.number(0)))
        conditions = [
            exp.In(this=_ref(f"__dp_o{i}"),
                   expressions=[self._param("k", str(key)) for key in plan.group_by[i].declared_keys or ()])
            for i in declared
        ]  # fmt: skip
        outputs = [exp.alias_(_ref(f"__dp_o{i}"), name, quoted=True) for i, name in enumerate(names)]
        source = exp.Subquery(this=grouped, alias=exp.TableAlias(this=exp.to_identifier("__dp_g", quoted=True)))
        return exp.Select(expressions=outputs).from_(source).where(exp.and_(*conditions, copy=False), copy=False)

    def _keys(self, group: GroupBy) -> list[exp.Expression]:
        if group.logical_type == Column.LogicalType.INTEGER:
            return [exp.Literal.number(int(key)) for key in group.declared_keys or ()]
        return [self._param("k", str(key)) for key in group.declared_keys or ()]

    def _sum_value(self, measure: Measure) -> exp.Expression:
        ref = _ref(measure.column or "")
        low, high = _number(measure.lower), _number(measure.upper)
        clamped = exp.Case(
            ifs=[exp.If(this=exp.LT(this=ref, expression=low), true=low.copy()),
                 exp.If(this=exp.GT(this=ref.copy(), expression=high), true=high.copy())],
            default=ref.copy(),
        )  # fmt: skip
        if measure.integer:
            return _cast(clamped, "INT")
        scaled = exp.Mul(this=_cast(clamped, "DOUBLE"), expression=exp.Literal.number(2**measure.scale))
        return _cast(exp.Round(this=scaled), "INT")

    def _total(self, node: exp.Expression) -> exp.Expression:
        """The predicate with literals bound as parameters and arithmetic that cannot fail."""
        if isinstance(node, (exp.And, exp.Or)):
            for operand in list(node.flatten()):
                rewritten = self._total(operand)
                if rewritten is not operand:
                    operand.replace(rewritten)
            return node
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expression):
                node.set(key, self._total(value))
            elif isinstance(value, list):
                node.set(key, [self._total(v) if isinstance(v, exp.Expression) else v for v in value])
        if isinstance(node, exp.Literal) and node.is_string:
            return self._param("p", node.this)
        if isinstance(node, ARITHMETIC):
            node.set("this", self._safe(node.this))
            divisor = self._safe(node.expression)
            if isinstance(node, (exp.Div, exp.Mod)):
                divisor = exp.Nullif(this=divisor, expression=exp.Literal.number(0))
            node.set("expression", divisor)
            if isinstance(node, exp.Div):
                node.set("typed", True)
                node.set("safe", False)
            return exp.Paren(this=node)
        if isinstance(node, exp.Neg) and not isinstance(node.this, exp.Literal):
            node.set("this", self._safe(node.this))
        if isinstance(node, NUMBER_FUNCTIONS):
            node.set("this", self._safe(node.this))
        if isinstance(node, exp.Floor) and self.dialect == "sqlite":
            # SQLAlchemy replaces SQLite's floor() by Python's math.floor, which fails on NULL and infinity.
            return exp.Neg(this=exp.Ceil(this=exp.Neg(this=exp.Paren(this=node.this))))
        return node

    def _safe(self, node: exp.Expression) -> exp.Expression:
        return _cast(node, SAFE_NUMBER[self.dialect])


def _check_trusted(node: exp.Expression) -> None:
    for child in node.walk():
        if not isinstance(child, _TRUSTED_NODES) or (isinstance(child, exp.Column) and child.args.get("table")):
            raise QueryRejected("The stored plan is not valid: compile the query again.")


def _row_number(unit: str, order: list[str]) -> exp.Window:
    window = exp.Window(this=exp.RowNumber(), partition_by=[_ref(unit)])
    if order:
        window.set("order", exp.Order(expressions=[exp.Ordered(this=_ref(c)) for c in dict.fromkeys(order)]))
    return window


def _table(plan: QueryPlan) -> exp.Table:
    table = exp.Table(this=exp.to_identifier(plan.table_name, quoted=True))
    if plan.table_schema:
        table.set("db", exp.to_identifier(plan.table_schema, quoted=True))
    return table


def _ref(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def _cast(node: exp.Expression, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(to))


def _number(value: Decimal | None) -> exp.Literal:
    if value is None:
        raise QueryRejected("The stored plan is not valid: compile the query again.")
    return exp.Literal.number(format(_plain(Decimal(value)), "f"))


def _aggregate(measure: Measure, alias: str) -> exp.Expression:
    if measure.kind == "count":
        return exp.Count(this=exp.Star() if measure.column is None else _ref(alias))
    total = exp.Coalesce(this=exp.Sum(this=_ref(alias)), expressions=[exp.Literal.number(0)])
    return _cast(total, "BIGINT")


_GENERATORS: dict[str, Any] = {}


def _generator(dialect: str) -> Any:
    """sqlglot's generator for the dialect, writing placeholders as SQLAlchemy ``:name`` binds."""
    target = Dialect.get_or_raise(DIALECTS[dialect])
    if dialect not in _GENERATORS:
        base = target.generator_class

        class Generator(base):  # type: ignore[misc, valid-type]
            TRANSFORMS = {**base.TRANSFORMS, exp.Placeholder: lambda _self, e: f":{e.name}"}

        _GENERATORS[dialect] = Generator
    return _GENERATORS[dialect](dialect=target)
