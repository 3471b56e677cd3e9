"""Shared fixtures of the DP query tests.

- ``adult``: the confidential ``hr.census.adult`` dataset of the demo mesh, built with factories: 16
  columns (``person_id``, the privacy unit, plus the 15 census columns) with the bounds and categories
  the demo declares, ``max_rows_per_unit`` 1. No backend yet.
- ``funded_adult`` / ``bob_policy``: the same budgets as ``tests/privacy/conftest.py``, on this ``adult``.
- ``table_copy(dataset, kind, rows)``: a real SQLite file, DuckDB file or PostgreSQL schema holding
  ``rows`` in the dataset's table, registered as the dataset's backend. ``adult_copy(kind, rows)`` is
  the same for ``adult``. Rows are dicts by column name; a missing column is NULL.
"""

import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from apps.catalog.demo_data.declarations import (
    ADULT_BOUNDS,
    ADULT_CATEGORIES,
    ADULT_COLUMNS,
    ADULT_DESCRIPTIONS,
    ADULT_INTEGER_COLUMNS,
)
from apps.catalog.models import Column, Dataset
from apps.domains.models import Backend, Domain, Sensitivity
from apps.privacy.services import dataset_budget_set, policy_save
from tests.factories import BackendFactory, ColumnFactory, DatasetFactory

KINDS = ("sqlite", "duckdb", "postgresql")
ADULT_COLUMN_NAMES = ("person_id", *(name for name, _ in ADULT_COLUMNS))

_TYPES = {
    # logical type: (sqlite, duckdb, postgresql)
    Column.LogicalType.INTEGER: ("INTEGER", "BIGINT", "bigint"),
    Column.LogicalType.FLOAT: ("REAL", "DOUBLE", "double precision"),
    Column.LogicalType.STRING: ("TEXT", "VARCHAR", "text"),
    Column.LogicalType.BOOLEAN: ("INTEGER", "BOOLEAN", "boolean"),
    Column.LogicalType.DATE: ("TEXT", "DATE", "date"),
    Column.LogicalType.DATETIME: ("TEXT", "TIMESTAMP", "timestamp"),
    Column.LogicalType.OTHER: ("TEXT", "VARCHAR", "text"),
}


def add_adult_columns(dataset: Dataset) -> None:
    """The 16 columns of hr.census.adult with what the demo's owner declares."""
    for position, name in enumerate(ADULT_COLUMN_NAMES):
        integer = name == "person_id" or name in ADULT_INTEGER_COLUMNS
        lower, upper = ADULT_BOUNDS.get(name, (None, None))
        ColumnFactory(
            dataset=dataset,
            name=name,
            position=position,
            data_type="INTEGER" if integer else "TEXT",
            logical_type=Column.LogicalType.INTEGER if integer else Column.LogicalType.STRING,
            classification=Column.Classification.IDENTIFIER if name == "person_id" else Column.Classification.PUBLIC,
            classification_confirmed=True,
            description=ADULT_DESCRIPTIONS.get(name, ""),
            lower_bound=lower,
            upper_bound=upper,
            categories=list(ADULT_CATEGORIES.get(name, [])),
        )


@pytest.fixture
def adult(hr: Domain) -> Dataset:
    dataset = DatasetFactory(
        domain=hr,
        table_name="adult",
        address="hr.census.adult",
        sensitivity=Sensitivity.CONFIDENTIAL,
        privacy_unit_column="person_id",
        max_rows_per_unit=1,
    )
    add_adult_columns(dataset)
    return dataset


@pytest.fixture
def funded_adult(adult: Dataset, alice: Any) -> Dataset:
    """hr.census.adult with a dataset-wide budget of epsilon 10, delta 1e-5."""
    dataset_budget_set(actor=alice, dataset=adult, epsilon_limit="10", delta_limit="0.00001")
    return adult


@pytest.fixture
def bob_policy(funded_adult: Dataset, alice: Any, bob: Any) -> Any:
    return policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_budget="1", delta_budget="0.000001")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(dataset: Dataset) -> list[tuple[str, str]]:
    return list(
        dataset.columns.filter(removed_at__isnull=True).order_by("position", "name").values_list("name", "logical_type")
    )


def _ddl(table: str, columns: list[tuple[str, str]], kind: str) -> str:
    index = KINDS.index(kind)
    return f"CREATE TABLE {table} ({', '.join(f'{_quote(n)} {_TYPES[t][index]}' for n, t in columns)})"


def _values(columns: list[tuple[str, str]], rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    names = {name for name, _ in columns}
    for row in rows:
        unknown = set(row) - names
        if unknown:
            raise ValueError(f"rows name columns the dataset does not have: {sorted(unknown)}")
    return [tuple(row.get(name) for name, _ in columns) for row in rows]


def postgres_server() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {"host": db.get("HOST") or "127.0.0.1", "port": int(db.get("PORT") or 5432),
            "user": db.get("USER") or "postgres", "password": db.get("PASSWORD") or None}  # fmt: skip


def _postgres_url(dbname: str) -> str:
    server = postgres_server()
    return f"postgresql://{server['user']}@{server['host']}:{server['port']}/{dbname}"


@pytest.fixture(scope="session")
def tables_database() -> str:
    """A database of its own on the test server for the PostgreSQL copies (one schema per copy)."""
    name = f"{settings.DATABASES['default']['NAME']}_qtables"[:63]
    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server()) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            with suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _write(
    kind: str, dataset: Dataset, rows: Sequence[Mapping[str, Any]], folder: Path, dbname: str
) -> tuple[str, str]:
    """Create the table; return (url, schema)."""
    columns = _columns(dataset)
    values = _values(columns, rows)
    if kind == "sqlite":
        path = folder / f"{dataset.table_name}-{uuid.uuid4().hex[:8]}.sqlite3"
        with sqlite3.connect(path) as db:
            db.execute(_ddl(_quote(dataset.table_name), columns, kind))
            db.executemany(f"INSERT INTO {_quote(dataset.table_name)} VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
                           values)  # fmt: skip
        return str(path), "main"
    if kind == "duckdb":
        path = folder / f"{dataset.table_name}-{uuid.uuid4().hex[:8]}.duckdb"
        with duckdb.connect(str(path)) as db:
            db.execute(_ddl(_quote(dataset.table_name), columns, kind))
            if values:
                db.executemany(f"INSERT INTO {_quote(dataset.table_name)} VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
                               values)  # fmt: skip
        return str(path), "main"
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname=dbname, autocommit=True, **postgres_server()) as db:
        db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        table = f"{_quote(schema)}.{_quote(dataset.table_name)}"
        db.execute(_ddl(table, columns, kind))
        with db.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.SQL(table))) as copy:
            for row in values:
                copy.write_row(row)
    return _postgres_url(dbname), schema


TableCopy = Callable[[Dataset, str, Sequence[Mapping[str, Any]]], Backend]


@pytest.fixture
def table_copy(tmp_path: Path, tables_database: str) -> Iterator[TableCopy]:
    """``table_copy(dataset, kind, rows)``: the dataset now lives in a real ``kind`` backend holding ``rows``."""
    schemas: list[str] = []

    def make(dataset: Dataset, kind: str, rows: Sequence[Mapping[str, Any]]) -> Backend:
        if kind not in KINDS:
            raise ValueError(f"kind is one of {KINDS}")
        url, schema = _write(kind, dataset, rows, tmp_path, tables_database)
        if kind == "postgresql":
            schemas.append(schema)
        slug = dataset.address.split(".")[1] if dataset.address.count(".") >= 2 else "db"
        backend = BackendFactory(domain=dataset.domain, slug=f"{slug}-{uuid.uuid4().hex[:6]}", kind=kind, url=url)
        dataset.backend = backend
        dataset.table_schema = schema
        dataset.save(update_fields=["backend", "table_schema"])
        return backend

    yield make
    if schemas:
        with psycopg.connect(dbname=tables_database, autocommit=True, **postgres_server()) as db:
            for schema in schemas:
                db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def adult_copy(adult: Dataset, table_copy: TableCopy) -> Callable[[str, Sequence[Mapping[str, Any]]], Backend]:
    """``adult_copy(kind, rows)``: hr.census.adult now lives in a real ``kind`` backend holding ``rows``."""

    def make(kind: str, rows: Sequence[Mapping[str, Any]]) -> Backend:
        return table_copy(adult, kind, rows)

    return make
