"""Where the true counts come from: the dataset's backend, or a DataFrame (tests, the benchmark).

A source answers one question: for these cliques (tuples of encoded columns), how many rows fall
into each cell, after each privacy unit's contribution is bounded. Counts are true (not noisy): only
the engine's mechanisms may release anything computed from them.

``BackendSource`` never brings rows into the worker. It writes one SQL statement that the backend's
own engine evaluates (PostgreSQL, SQLite, DuckDB, through the dataset's connector,
``apps.domains.connectors``, read-only, with the query timeout):

1. encode every column with the ``CASE`` of ``encoding.sql_expression`` (declared bins and categories,
   bound as parameters; NULL and undeclared values to the missing code, or ``-1``);
2. leave out rows with a ``-1`` code (a NULL or undeclared value in a column that is not nullable);
3. keep at most k = ``dataset.max_rows_per_unit`` rows per privacy unit, as the DP query compiler
   does (``apps.queries.compiler``): ``ROW_NUMBER() OVER (PARTITION BY unit ORDER BY the codes) <= k``.
   Ordering by the codes makes the kept cells a function of the unit's own rows. The window is
   skipped only when k = 1 and the unit column is NOT NULL with a primary key or unique constraint
   the harvest read from the backend's schema (``Column.is_unique``): one row per unit is enforced;
4. count the cells of every clique in one pass: ``GROUP BY GROUPING SETS`` on PostgreSQL and DuckDB,
   a materialized CTE and one ``GROUP BY`` per clique (``UNION ALL``) on SQLite.

Only the counts come back: at most the number of cells of the cliques, whatever the table's size.

``FrameSource`` applies exactly the same rules to a DataFrame in memory.

Neighbouring datasets differ by one privacy unit; with its rows bounded to k, one unit changes each
clique's count vector by at most k in L1 and in L2 norm (``max_rows_per_unit``).
"""

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from apps.catalog.models import Column, Dataset
from apps.core.errors import BackendUnavailable
from apps.domains.models import Backend
from apps.synth.engine.base import SynthRefused
from apps.synth.engine.encoding import CATEGORICAL, LEAVE_OUT, ColumnCode, Encoding, _plain, encode_series

Clique = tuple[str, ...]


class MarginalSource(Protocol):
    max_rows_per_unit: int

    def marginals(self, encoding: Encoding, cliques: Sequence[Clique]) -> dict[Clique, np.ndarray]:
        """True counts per cell (int64 arrays shaped by the clique's code sizes), contributions bounded."""
        ...


def _unique_cliques(encoding: Encoding, cliques: Sequence[Clique]) -> list[Clique]:
    known = set(encoding.names)
    out: list[Clique] = []
    for clique in cliques:
        clique = tuple(clique)
        if not clique or len(set(clique)) != len(clique) or not set(clique) <= known:
            raise ValueError(f"not a clique of the encoding: {clique!r}")
        if clique not in out:
            out.append(clique)
    return out


def _cells(encoding: Encoding, clique: Clique) -> int:
    return int(np.prod([encoding.column(c).size for c in clique], dtype=np.int64))


# --------------------------------------------------------------------------- in memory


class FrameSource:
    """Counts computed from a DataFrame, with the backend's rules (tests, the benchmark)."""

    def __init__(self, frame: pd.DataFrame, *, privacy_unit: str | None = None, max_rows_per_unit: int = 1) -> None:
        if max_rows_per_unit < 1:
            raise ValueError("max_rows_per_unit must be at least 1")
        self.frame = frame
        self.privacy_unit = privacy_unit
        self.max_rows_per_unit = int(max_rows_per_unit)
        self.calls = 0
        self._cache: tuple[Encoding, np.ndarray] | None = None

    def codes(self, encoding: Encoding) -> np.ndarray:
        """The (n, d) codes of the rows kept (left-out rows dropped, contributions bounded)."""
        if self._cache is not None and self._cache[0] == encoding:
            return self._cache[1]
        codes = np.stack([encode_series(c, self.frame[c.name]) for c in encoding.columns], axis=1)
        keep = (codes != LEAVE_OUT).all(axis=1)
        codes = codes[keep]
        if self.privacy_unit is not None:
            units = self.frame[self.privacy_unit].to_numpy()[keep]
            order = pd.DataFrame(codes, columns=[f"e{i}" for i in range(codes.shape[1])])
            order.insert(0, "__u", pd.Series(units).astype(object).where(pd.notna(units), None))
            order["__i"] = np.arange(len(order))
            order = order.sort_values(["__u", *[f"e{i}" for i in range(codes.shape[1])]], kind="stable",
                                      na_position="last")  # fmt: skip
            rank = order.groupby("__u", dropna=False, sort=False).cumcount().to_numpy()
            kept = order["__i"].to_numpy()[rank < self.max_rows_per_unit]
            codes = codes[np.sort(kept)]
        self._cache = (encoding, codes)
        return codes

    def marginals(self, encoding: Encoding, cliques: Sequence[Clique]) -> dict[Clique, np.ndarray]:
        self.calls += 1
        cliques = _unique_cliques(encoding, cliques)
        codes = self.codes(encoding)
        position = {name: i for i, name in enumerate(encoding.names)}
        out: dict[Clique, np.ndarray] = {}
        for clique in cliques:
            shape = tuple(encoding.column(c).size for c in clique)
            columns = [codes[:, position[c]] for c in clique]
            flat = np.ravel_multi_index(columns, shape) if len(codes) else np.zeros(0, dtype=np.int64)
            out[clique] = np.bincount(flat, minlength=int(np.prod(shape))).astype(np.int64).reshape(shape)
        return out


# --------------------------------------------------------------------------- in the backend


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _number(value: Any) -> str:
    return format(_plain(value), "f")


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"c{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def sql_expression(code: ColumnCode, params: _Params) -> str:
    """The CASE expression giving a column's code in the backend (same rules as ``encode_series``)."""
    ref = _quote(code.name)
    missing = code.missing
    if code.kind == CATEGORICAL:
        if code.logical_type == Column.LogicalType.BOOLEAN:
            return f"CASE WHEN {ref} IS NULL THEN {missing} WHEN {ref} THEN 1 ELSE 0 END"
        if code.logical_type == Column.LogicalType.INTEGER:
            whens = " ".join(f"WHEN {int(c)} THEN {i}" for i, c in enumerate(code.categories))
        else:
            whens = " ".join(f"WHEN {params.add(str(c))} THEN {i}" for i, c in enumerate(code.categories))
        return f"CASE {ref} {whens} ELSE {missing} END"
    whens = " ".join(f"WHEN {ref} < {_number(edge)} THEN {i}" for i, edge in enumerate(code.edges[1:-1]))
    return f"CASE WHEN {ref} IS NULL THEN {missing} {whens} ELSE {code.values - 1} END"


class BackendSource:
    """Counts computed by the dataset's backend in SQL (see the module docstring)."""

    def __init__(
        self,
        *,
        backend: Backend,
        table_schema: str,
        table_name: str,
        privacy_unit: str,
        max_rows_per_unit: int,
        unit_unique: bool,
    ) -> None:
        from apps.queries.compiler import dialect_for
        from apps.queries.plan import QueryRejected

        try:
            self.dialect = dialect_for(backend)
        except QueryRejected:
            raise SynthRefused("Synthetic data is computed on PostgreSQL, SQLite and DuckDB backends only.") from None
        if max_rows_per_unit < 1:
            raise SynthRefused("max_rows_per_unit must be at least 1.")
        self.backend = backend
        self.table_schema = table_schema
        self.table_name = table_name
        self.privacy_unit = privacy_unit
        self.max_rows_per_unit = int(max_rows_per_unit)
        self.unit_unique = bool(unit_unique) and self.max_rows_per_unit == 1
        self.calls = 0

    @classmethod
    def for_dataset(cls, dataset: Dataset) -> "BackendSource":
        if dataset.backend is None:
            raise SynthRefused("The dataset has no backend to read from.")
        if not dataset.privacy_unit_column:
            raise SynthRefused("This dataset declares no privacy unit: its owner must set one before synthesis.")
        unit = dataset.columns.filter(name=dataset.privacy_unit_column, removed_at__isnull=True).first()
        if unit is None:
            raise SynthRefused(
                "The privacy unit column of this dataset is not one of its columns: its owner must fix it."
            )
        k = int(dataset.max_rows_per_unit)
        return cls(
            backend=dataset.backend,
            table_schema=dataset.table_schema,
            table_name=dataset.table_name,
            privacy_unit=dataset.privacy_unit_column,
            max_rows_per_unit=k,
            unit_unique=k == 1 and unit.is_unique and not unit.nullable,
        )

    def _table(self) -> str:
        table = _quote(self.table_name)
        return f"{_quote(self.table_schema)}.{table}" if self.table_schema else table

    def statement(self, encoding: Encoding, cliques: Sequence[Clique]) -> tuple[str, dict[str, Any], list[str]]:
        """(SQL, parameters, the encoded columns it returns in order, followed by the count)."""
        params = _Params()
        used = [c for c in encoding.names if any(c in clique for clique in cliques)]
        alias = {name: f"e{i}" for i, name in enumerate(encoding.names)}
        every = [_quote(alias[n]) for n in encoding.names]
        encoded = ", ".join(f"{sql_expression(c, params)} AS {_quote(alias[c.name])}" for c in encoding.columns)
        unit = "" if self.unit_unique else f'{_quote(self.privacy_unit)} AS "__u", '
        rows = f"SELECT {unit}{encoded} FROM {self._table()}"  # noqa: S608 - names quoted, values bound
        drop = [f"{_quote(alias[c.name])} >= 0" for c in encoding.columns if c.missing == LEAVE_OUT]
        if drop:
            rows = f'SELECT * FROM ({rows}) AS "__enc" WHERE {" AND ".join(drop)}'  # noqa: S608
        if not self.unit_unique:
            window = f'ROW_NUMBER() OVER (PARTITION BY "__u" ORDER BY {", ".join(every)})'
            numbered = f'SELECT {", ".join(every)}, {window} AS "__rn" FROM ({rows}) AS "__kept"'  # noqa: S608
            k = self.max_rows_per_unit
            rows = f'SELECT {", ".join(every)} FROM ({numbered}) AS "__numbered" WHERE "__rn" <= {k}'  # noqa: S608
        outputs = [_quote(alias[n]) for n in used]
        if self.dialect in ("postgresql", "duckdb"):
            sets = ", ".join("(" + ", ".join(_quote(alias[c]) for c in clique) + ")" for clique in cliques)
            sql = f'SELECT {", ".join(outputs)}, COUNT(*) FROM ({rows}) AS "__rows" GROUP BY GROUPING SETS ({sets})'  # noqa: S608
        else:
            parts = []
            for clique in cliques:
                items = [_quote(alias[n]) if n in clique else "NULL" for n in used]
                keys = ", ".join(_quote(alias[c]) for c in clique)
                parts.append(f'SELECT {", ".join(items)}, COUNT(*) FROM "__rows" GROUP BY {keys}')  # noqa: S608
            sql = f'WITH "__rows" AS MATERIALIZED ({rows}) ' + " UNION ALL ".join(parts)
        return sql, params.values, used

    def marginals(self, encoding: Encoding, cliques: Sequence[Clique]) -> dict[Clique, np.ndarray]:
        from apps.domains.connectors import connector_for

        self.calls += 1
        cliques = _unique_cliques(encoding, cliques)
        sql, params, used = self.statement(encoding, cliques)
        max_rows = sum(_cells(encoding, c) for c in cliques)
        with connector_for(self.backend) as connector:
            rows = connector.fetch_aggregates(sql, params, max_rows=max_rows)
        out = {c: np.zeros(tuple(encoding.column(n).size for n in c), dtype=np.int64) for c in cliques}
        by_pattern = {frozenset(c): c for c in cliques}
        for row in rows:
            values, count = row[:-1], int(row[-1])
            present = {name: int(v) for name, v in zip(used, values, strict=True) if v is not None}
            clique = by_pattern.get(frozenset(present))
            if clique is None:
                raise BackendUnavailable("the backend returned counts the portal did not ask for")
            out[clique][tuple(present[n] for n in clique)] += count
        return out


def backend_source(dataset: Dataset) -> BackendSource:
    """A source whose counts the dataset's backend computes; reads nothing until asked."""
    return BackendSource.for_dataset(dataset)
