"""How each column is turned into a small discrete domain, from the catalog's declarations only.

Nothing here reads data. A column is encoded from what its owner declared in the catalog
(``apps.catalog.models.Column``): its logical type, its declared bounds, its declared categories and
whether it is nullable. No budget is spent on bounds or categories, and none is learnt from data.

- **Categorical** (declared categories on a text or integer column; a boolean column is
  ``False``/``True``): one code per declared category, in the declared order.
- **Numeric** (integer or float with declared lower and upper bounds): integers whose bounds hold at
  most ``EXACT_INTEGERS`` values get one code per value; wider integer ranges get at most
  ``NUMERIC_BINS`` bins of equal integer width; floats get ``NUMERIC_BINS`` bins of equal width over
  [lower, upper]. A value below the lower bound falls into the first bin, above the upper bound
  into the last (clamping).
- **Missing**: a nullable column gets one more code, *missing*, for NULL and (categorical) for any
  value that is not declared. In a column that is not nullable there is no such code: a row whose
  value is NULL or undeclared there is left out, before contribution bounding, in every marginal
  alike. Either way the mapping is a fixed function of one row, so one person still changes at most
  their own rows' cells.

The same mapping is written as SQL (``marginals.sql_expression``: a ``CASE`` per column that the
backend evaluates) and as pandas (``encode_frame``, for the in-memory source and for utility reports); both
give the same codes, ``-1`` standing for "leave the row out".

**Decoding** (``decode``) turns codes sampled from the DP model back into values: the declared
category, ``None`` for missing, and for a numeric bin a value drawn uniformly inside the bin (an
integer for integer columns), never outside the declared bounds. Decoding is post-processing of a DP
output: its randomness (numpy's generator) carries no privacy guarantee and needs none.
"""

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from apps.catalog.models import Column, Dataset
from apps.synth.engine.base import SynthRefused

EXACT_INTEGERS = 32
NUMERIC_BINS = 16
MISSING_LABEL = "(missing)"
LEAVE_OUT = -1

CATEGORICAL, INTEGER, FLOAT = "categorical", "integer", "float"
CATEGORY_TYPES = {Column.LogicalType.STRING, Column.LogicalType.INTEGER}


def _numeric_bins() -> int:
    return max(2, int(getattr(settings, "PORTAL_SYNTH_NUMERIC_BINS", NUMERIC_BINS)))


@dataclass(frozen=True)
class ColumnCode:
    """The encoding of one column. ``edges`` (numeric): bin i holds values v with
    edges[i] <= v < edges[i+1] (integers: up to edges[i+1] - 1), the first and last bins extended to
    clamp values outside the bounds."""

    name: str
    kind: str
    logical_type: str
    nullable: bool
    categories: tuple[Any, ...] = ()
    edges: tuple[Decimal, ...] = ()
    lower: Decimal | None = None
    upper: Decimal | None = None

    @property
    def values(self) -> int:
        return len(self.categories) if self.kind == CATEGORICAL else len(self.edges) - 1

    @property
    def size(self) -> int:
        return self.values + (1 if self.nullable else 0)

    @property
    def missing(self) -> int:
        """The code of missing values, or LEAVE_OUT when the column is not nullable."""
        return self.values if self.nullable else LEAVE_OUT

    @property
    def labels(self) -> list[str]:
        if self.kind == CATEGORICAL:
            labels = [str(c) for c in self.categories]
        elif self.kind == INTEGER:
            labels = []
            for low, high in zip(self.edges[:-1], self.edges[1:], strict=True):
                top = high - 1
                labels.append(f"{low}" if top == low else f"{low}-{top}")
        else:
            last = len(self.edges) - 2
            labels = [
                f"[{_plain(low)}, {_plain(high)}{']' if i == last else ')'}"
                for i, (low, high) in enumerate(zip(self.edges[:-1], self.edges[1:], strict=True))
            ]
        return labels + ([MISSING_LABEL] if self.nullable else [])

    def describe(self) -> dict[str, Any]:
        """Public parameters of the encoding (declared metadata only)."""
        out: dict[str, Any] = {"column": self.name, "kind": self.kind, "codes": self.size, "nullable": self.nullable}
        if self.kind != CATEGORICAL:
            out["bounds"] = [str(_plain(self.lower)), str(_plain(self.upper))]
            out["bins"] = self.values
        return out


@dataclass(frozen=True)
class Encoding:
    columns: tuple[ColumnCode, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def sizes(self) -> list[int]:
        return [c.size for c in self.columns]

    def column(self, name: str) -> ColumnCode:
        for code in self.columns:
            if code.name == name:
                return code
        raise KeyError(name)

    def describe(self) -> list[dict[str, Any]]:
        return [c.describe() for c in self.columns]


# --------------------------------------------------------------------------- from the catalog


def _plain(value: Decimal | None) -> Decimal:
    if value is None:
        return Decimal(0)
    return Decimal(format(value.normalize(), "f"))


def _declared_categories(column: Column) -> list[Any] | None:
    """The declared categories, typed; None when there are none; raises when they do not fit the type."""
    declared = [c for c in (column.categories or []) if c is not None]
    if not declared:
        return None
    out: list[Any] = []
    for value in declared:
        if column.logical_type == Column.LogicalType.INTEGER:
            try:
                typed: Any = int(str(value).strip())
            except ValueError:
                raise SynthRefused(
                    f"The declared categories of {column.name} are not all integers: its owner must fix them."
                ) from None
        else:
            typed = str(value)
        if typed not in out:
            out.append(typed)
    return out


def _numeric(column: Column) -> ColumnCode | None:
    if column.lower_bound is None or column.upper_bound is None:
        return None
    lower, upper = Decimal(column.lower_bound), Decimal(column.upper_bound)
    bins = _numeric_bins()
    if column.logical_type == Column.LogicalType.INTEGER:
        low = int(lower.to_integral_value(rounding=ROUND_CEILING))
        high = int(upper.to_integral_value(rounding=ROUND_FLOOR))
        if low > high:
            raise SynthRefused(f"The declared bounds of {column.name} hold no integer: its owner must fix them.")
        span = high - low + 1
        width = 1 if span <= EXACT_INTEGERS else math.ceil(span / bins)
        edges = [Decimal(e) for e in range(low, high + 1, width)] + [Decimal(high + 1)]
        return ColumnCode(column.name, INTEGER, column.logical_type, bool(column.nullable),
                          edges=tuple(edges), lower=Decimal(low), upper=Decimal(high))  # fmt: skip
    step = (upper - lower) / bins
    edges = [lower + step * i for i in range(bins)] + [upper]
    return ColumnCode(column.name, FLOAT, column.logical_type, bool(column.nullable),
                      edges=tuple(_plain(e) for e in edges), lower=lower, upper=upper)  # fmt: skip


def column_code(column: Column) -> ColumnCode:
    """The encoding of one catalog column, or SynthRefused saying what its owner must declare."""
    name = column.name
    kind = column.logical_type
    if kind == Column.LogicalType.BOOLEAN:
        return ColumnCode(name, CATEGORICAL, kind, bool(column.nullable), categories=(False, True))
    if kind in CATEGORY_TYPES:
        categories = _declared_categories(column)
        if categories is not None:
            return ColumnCode(name, CATEGORICAL, kind, bool(column.nullable), categories=tuple(categories))
    if column.is_numeric:
        code = _numeric(column)
        if code is not None:
            return code
        also = " (or its list of categories)" if kind == Column.LogicalType.INTEGER else ""
        raise SynthRefused(f"{name}: its owner must declare its lower and upper bounds{also}.")
    if kind == Column.LogicalType.STRING:
        raise SynthRefused(f"{name}: its owner must declare its list of categories.")
    kind_name = column.get_logical_type_display().lower()
    raise SynthRefused(f"{name}: {kind_name} columns cannot be synthesized; leave it out.")


def _never_synthesized(dataset: Dataset, column: Column) -> str | None:
    if column.name == dataset.privacy_unit_column:
        return f"{column.name} is the privacy unit column: it is never synthesized."
    if column.classification == Column.Classification.IDENTIFIER or column.is_unique:
        return f"{column.name} is an identifier: it is never synthesized."
    return None


def encoding_for(*, dataset: Dataset, column_names: list[str] | None) -> Encoding:
    """The encoding of ``column_names`` (None: every column that can be encoded), from the catalog only.

    Refuses, naming each column and what its owner must declare, when a named column has no usable
    metadata, is unknown, is the privacy unit or an identifier."""
    if dataset.removed_at is not None:
        raise SynthRefused("This dataset is no longer in its backend: it cannot be synthesized.")
    if not dataset.privacy_unit_column:
        raise SynthRefused("This dataset declares no privacy unit: its owner must set one before synthesis.")
    columns = {c.name: c for c in dataset.columns.filter(removed_at__isnull=True).order_by("position", "name")}
    if dataset.privacy_unit_column not in columns:
        raise SynthRefused("The privacy unit column of this dataset is not one of its columns: its owner must fix it.")
    codes: list[ColumnCode] = []
    if column_names is None:
        for column in columns.values():
            if _never_synthesized(dataset, column):
                continue
            try:
                codes.append(column_code(column))
            except SynthRefused:
                continue
        if not codes:
            raise SynthRefused(
                "No column of this dataset can be synthesized: its owner must declare bounds (numeric columns) "
                "or categories (text columns)."
            )
        return Encoding(tuple(codes))
    if not column_names:
        raise SynthRefused("Pick at least one column.", field="columns")
    problems: list[str] = []
    seen: set[str] = set()
    for name in column_names:
        if name in seen:
            problems.append(f"{name} is listed twice.")
            continue
        seen.add(name)
        column = columns.get(name)
        if column is None:
            problems.append(f"{name} is not a column of this dataset.")
            continue
        reason = _never_synthesized(dataset, column)
        if reason:
            problems.append(reason)
            continue
        try:
            codes.append(column_code(column))
        except SynthRefused as exc:
            problems.append(exc.message)
    if problems:
        raise SynthRefused(" ".join(problems), field="columns")
    return Encoding(tuple(codes))


# --------------------------------------------------------------------------- pandas


def encode_series(code: ColumnCode, series: pd.Series) -> np.ndarray:
    """Codes (int64) of a column's values; LEAVE_OUT for rows to leave out. Same rules as the SQL."""
    missing = code.missing
    null = pd.isna(series).to_numpy(dtype=bool)
    if code.kind == CATEGORICAL:
        if code.logical_type == Column.LogicalType.BOOLEAN:
            truth = series.where(~null, False).astype(bool).to_numpy(dtype=bool)
            return np.where(null, missing, truth.astype(np.int64)).astype(np.int64)
        out = np.full(len(series), missing, dtype=np.int64)
        if code.logical_type == Column.LogicalType.INTEGER:
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            for index, category in enumerate(code.categories):
                out[numbers == float(category)] = index
            return out
        is_text = series.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        positions = pd.Categorical(series.where(is_text, None), categories=[str(c) for c in code.categories]).codes
        found = positions >= 0
        out[found] = positions[found]
        return out
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    inner = np.array([float(e) for e in code.edges[1:-1]], dtype=float)
    out = np.searchsorted(inner, numbers, side="right").astype(np.int64)
    return np.where(np.isnan(numbers), missing, out).astype(np.int64)


def encode_frame(encoding: Encoding, frame: pd.DataFrame) -> np.ndarray:
    """An (n, d) int64 array of codes, rows with a LEAVE_OUT code removed."""
    if not len(encoding.columns):
        return np.zeros((len(frame), 0), dtype=np.int64)
    codes = np.stack([encode_series(c, frame[c.name]) for c in encoding.columns], axis=1)
    return codes[(codes >= 0).all(axis=1)]


def decode(encoding: Encoding, codes: dict[str, np.ndarray], rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Values for codes sampled from the DP model (post-processing). Never a value outside the declared
    bounds, never a category outside the declared list."""
    rng = rng or np.random.default_rng()
    columns: dict[str, Any] = {}
    for code in encoding.columns:
        index = np.asarray(codes[code.name], dtype=np.int64)
        is_missing = index >= code.values
        safe = np.where(is_missing, 0, index)
        if code.kind == CATEGORICAL:
            table = np.array(list(code.categories), dtype=object)
            values = table[safe].astype(object)
            values[is_missing] = None
            if code.logical_type == Column.LogicalType.BOOLEAN:
                columns[code.name] = pd.array(values, dtype="boolean")
            elif code.logical_type == Column.LogicalType.INTEGER:
                columns[code.name] = pd.array(values, dtype="Int64")
            else:
                columns[code.name] = pd.array(values, dtype=object)
        elif code.kind == INTEGER:
            lows = np.array([int(e) for e in code.edges[:-1]], dtype=np.int64)
            highs = np.array([int(e) - 1 for e in code.edges[1:]], dtype=np.int64)
            drawn = rng.integers(lows[safe], highs[safe] + 1)
            drawn = np.clip(drawn, int(code.lower), int(code.upper))
            columns[code.name] = pd.array(np.where(is_missing, 0, drawn), dtype="Int64")
            if is_missing.any():
                columns[code.name][is_missing] = pd.NA
        else:
            edges = np.array([float(e) for e in code.edges], dtype=float)
            drawn = rng.uniform(edges[safe], edges[safe + 1])
            drawn = np.clip(drawn, _float_inside(code.lower, up=True), _float_inside(code.upper, up=False))
            columns[code.name] = np.where(is_missing, np.nan, drawn)
    return pd.DataFrame(columns)


def _float_inside(bound: Decimal | None, *, up: bool) -> float:
    """The float nearest to ``bound`` on its inner side, so a clipped float never leaves [lower, upper]."""
    value = float(bound or 0)
    if up and Decimal(value) < (bound or 0):
        return math.nextafter(value, math.inf)
    if not up and Decimal(value) > (bound or 0):
        return math.nextafter(value, -math.inf)
    return value
