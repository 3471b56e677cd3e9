"""One row per person, enforced by the backend: harvested from its constraints, it drops the bounding window.

``unit_unique`` comes only from what the backend enforces (a single-column PRIMARY KEY or UNIQUE constraint
on the privacy unit, NOT NULL), read from schema metadata by the harvest, never from an owner's claim.
Without the window, the declared-keys filter applies to the groups after aggregation; the answers are the
same as the bounded form's.
"""

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql

from apps.catalog.harvest_services import harvest_backend_now
from apps.catalog.models import Column, Dataset
from apps.domains.models import Backend, Domain
from apps.queries.compiler import compile_dp_query, pushdown_sql
from tests.factories import BackendFactory
from tests.queries.conftest import KINDS, postgres_server
from tests.queries.test_compiler_pushdown import run

COLUMNS = "state {text}, grade {int}, income {int}"
ROWS = [
    (1, "AL", 1, 100), (2, "AL", 2, 300), (3, "AK", 1, 50), (4, "AK", 5, 70),  # grade 5 is not declared
    (5, "ZZ", 2, 999), (6, None, 3, 11), (7, "AL", None, 1_000_000), (8, None, None, None),  # undeclared, NULL
]  # fmt: skip
UNIT = {
    "primary key": "person_id {int} NOT NULL PRIMARY KEY",
    "unique": "person_id {int} NOT NULL UNIQUE",
    "no constraint": "person_id {int} NOT NULL",
    "nullable unique": "person_id {int} UNIQUE",
}
TYPES = {"sqlite": ("TEXT", "INTEGER"), "duckdb": ("VARCHAR", "BIGINT"), "postgresql": ("text", "bigint")}
QUERIES = [
    "SELECT state, COUNT(*), SUM(income), AVG(income) FROM people GROUP BY state",
    "SELECT grade, state, COUNT(*) FROM people WHERE income > 60 GROUP BY grade, state",
    "SELECT grade, COUNT(income) FROM people GROUP BY grade",
    "SELECT COUNT(*), SUM(income) FROM people",
]


@pytest.fixture(scope="module")
def unique_database(django_db_blocker: Any) -> Iterator[str]:
    """A PostgreSQL database of its own for these tables (the harvest reads every schema of it)."""
    with django_db_blocker.unblock():
        from django.conf import settings

        name = f"{settings.DATABASES['default']['NAME']}_qunique"[:63]
    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server()) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True, **postgres_server()) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


PeopleTable = Callable[..., Dataset]


@pytest.fixture
def people_table(hr: Domain, alice: Any, tmp_path: Path, unique_database: str) -> PeopleTable:
    """``people_table(kind, unit)``: a real ``people`` table whose person_id is declared as ``UNIT[unit]``,
    harvested by alice; the dataset as its owner then declares it (privacy unit, k, categories, bounds)."""

    def make(kind: str, unit: str, *, k: int = 1) -> Dataset:
        text, integer = TYPES[kind]
        ddl = f"CREATE TABLE people ({UNIT[unit].format(int=integer)}, {COLUMNS.format(text=text, int=integer)})"
        insert, schema = "INSERT INTO people VALUES (?, ?, ?, ?)", "main"
        if kind == "sqlite":
            url = str(tmp_path / f"{uuid.uuid4().hex[:8]}.sqlite3")
            with sqlite3.connect(url) as db:
                db.execute(ddl)
                db.executemany(insert, ROWS)
        elif kind == "duckdb":
            url = str(tmp_path / f"{uuid.uuid4().hex[:8]}.duckdb")
            with duckdb.connect(url) as db:
                db.execute(ddl)
                db.executemany(insert, ROWS)
        else:
            schema = f"u_{uuid.uuid4().hex[:12]}"
            server = postgres_server()
            with psycopg.connect(dbname=unique_database, autocommit=True, **server) as db:
                db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                db.execute(f"SET search_path TO {schema}")
                db.execute(ddl)
                db.cursor().executemany(insert.replace("?", "%s"), ROWS)
            url = f"postgresql://{server['user']}@{server['host']}:{server['port']}/{unique_database}"
        backend = BackendFactory(domain=hr, slug=f"db-{uuid.uuid4().hex[:6]}", kind=kind, url=url)
        assert harvest_backend_now(actor=alice, backend=backend).status == "succeeded"
        dataset = Dataset.objects.get(backend=backend, table_name="people", table_schema=schema)
        dataset.privacy_unit_column, dataset.max_rows_per_unit = "person_id", k
        dataset.save()
        dataset.columns.filter(name="state").update(categories=["AL", "AK", "AZ"])
        dataset.columns.filter(name="grade").update(categories=[1, 2, 3])
        dataset.columns.filter(name="income").update(lower_bound=Decimal(0), upper_bound=Decimal(500))
        return dataset

    return make


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def plan_of(dataset: Dataset, query: str = QUERIES[0]) -> Any:
    return compile_dp_query(query, dataset=dataset)


@pytest.mark.parametrize("unit", ["primary key", "unique"])
def test_a_harvested_not_null_unique_unit_drops_the_bounding_window(
    people_table: PeopleTable, kind: str, unit: str
) -> None:
    dataset = people_table(kind, unit)
    person = dataset.columns.get(name="person_id")
    assert (person.is_unique, person.nullable) == (True, False)
    assert not dataset.columns.get(name="state").is_unique
    plan = plan_of(dataset)
    assert plan.unit_unique
    assert plan.notes[0] == "Each person_id has one row: the backend enforces it (a primary key or unique constraint)."
    pushdown, _ = pushdown_sql(plan, dialect=kind)
    assert "ROW_NUMBER" not in pushdown.upper()


@pytest.mark.parametrize("unit", ["no constraint", "nullable unique"])
def test_without_a_not_null_unique_constraint_the_window_stays(people_table: PeopleTable, kind: str, unit: str) -> None:
    dataset = people_table(kind, unit)
    person = dataset.columns.get(name="person_id")
    assert (person.is_unique, person.nullable) == (unit == "nullable unique", unit == "nullable unique")
    plan = plan_of(dataset)
    assert not plan.unit_unique
    assert "ROW_NUMBER" in pushdown_sql(plan, dialect=kind)[0].upper()


def test_with_more_than_one_row_per_person_declared_the_window_stays(people_table: PeopleTable, kind: str) -> None:
    plan = plan_of(people_table(kind, "primary key", k=2))
    assert not plan.unit_unique
    assert "ROW_NUMBER" in pushdown_sql(plan, dialect=kind)[0].upper()


def test_an_owner_cannot_claim_uniqueness_the_backend_does_not_enforce(people_table: PeopleTable) -> None:
    dataset = people_table("sqlite", "no constraint")
    dataset.columns.filter(name="person_id").update(nullable=True)
    assert not plan_of(dataset).unit_unique  # the harvest writes is_unique; nothing else sets it to True


@pytest.mark.parametrize("query", QUERIES)
def test_filtering_declared_keys_after_aggregation_gives_the_bounded_forms_answer(
    people_table: PeopleTable, kind: str, query: str
) -> None:
    dataset = people_table(kind, "primary key")
    backend: Backend = dataset.backend
    plan = plan_of(dataset, query)
    assert plan.unit_unique
    unbounded = run(backend, *pushdown_sql(plan, dialect=kind))
    bounded = run(backend, *pushdown_sql(replace(plan, unit_unique=False), dialect=kind))
    assert unbounded == bounded


def test_the_groups_are_the_declared_keys_the_data_holds_and_nothing_else(people_table: PeopleTable, kind: str) -> None:
    dataset = people_table(kind, "primary key")
    rows = run(dataset.backend, *pushdown_sql(plan_of(dataset, QUERIES[1]), dialect=kind))
    assert rows == [("1", "AL", 1), ("2", "AL", 1)]  # AK: income 50, or grade 5 (not declared)
    rows = run(dataset.backend, *pushdown_sql(plan_of(dataset), dialect=kind))
    assert rows == [("AK", 2, 50 + 70, 2), ("AL", 3, 100 + 300 + 500, 3)]  # clamped to 500


def test_dropping_the_constraint_is_a_schema_change_the_next_harvest_reports(
    people_table: PeopleTable, alice: Any
) -> None:
    dataset = people_table("sqlite", "primary key")
    with sqlite3.connect(dataset.backend.url) as db:
        db.execute("ALTER TABLE people RENAME TO old")
        db.execute(f"CREATE TABLE people (person_id INTEGER NOT NULL, {COLUMNS.format(text='TEXT', int='INTEGER')})")
        db.execute("INSERT INTO people SELECT * FROM old")
        db.execute("DROP TABLE old")
    run_ = harvest_backend_now(actor=alice, backend=dataset.backend)
    assert f"{dataset.address}.person_id" in run_.report["changed"]
    before = dataset.version
    dataset.refresh_from_db()
    assert dataset.version == before + 1
    assert not Column.objects.get(dataset=dataset, name="person_id").is_unique
    assert not plan_of(dataset).unit_unique
