"""``fetch_aggregates``: what the worker reads from a domain's backend. Real SQLite, DuckDB and
PostgreSQL backends: read-only, stopped after a timeout, capped in rows, and no data value in any
message."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
from django.db import connection

from apps.core.errors import BackendUnavailable
from apps.domains.connectors import BackendUnreachable, connector_for
from apps.domains.models import Backend

pytestmark = pytest.mark.django_db

SECRET = "Zanzibar-4711"
SLOW = {
    "sqlite": "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
    "duckdb": "SELECT count(*) FROM range(100000000000) a",
    "postgresql": "SELECT count(*) FROM generate_series(1, 1000000000000)",
}


def _server() -> dict:
    db = connection.settings_dict
    return {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"] or "postgres"}


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "people.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (person_id INTEGER, sex TEXT, secret TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?)", [(1, "F", SECRET), (2, "M", "x"), (3, "F", "y")])
    return Backend(kind=Backend.Kind.SQLITE, url=str(path))


@pytest.fixture
def duckdb_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "people.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE people (person_id INTEGER, sex TEXT, secret TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?, ?)", [[1, "F", SECRET], [2, "M", "x"], [3, "F", "y"]])
    return Backend(kind=Backend.Kind.DUCKDB, url=str(path))


@pytest.fixture
def postgresql_backend() -> Iterator[Backend]:
    name = f"{connection.settings_dict['NAME']}_fetch"
    server = _server()
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg.sql.Identifier(name)))
        admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    with psycopg.connect(dbname=name, **server) as backend_db:
        backend_db.execute("CREATE TABLE people (person_id integer, sex text, secret text)")
        backend_db.execute("INSERT INTO people VALUES (1, 'F', %s), (2, 'M', 'x'), (3, 'F', 'y')", [SECRET])
    yield Backend(
        kind=Backend.Kind.POSTGRESQL, url=f"postgresql://{server['user']}@{server['host']}:{server['port']}/{name}"
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


GROUPED = "SELECT sex, COUNT(*) AS n FROM people WHERE person_id >= :low GROUP BY sex ORDER BY sex"


def test_it_returns_one_row_per_group_with_bound_parameters(backend: Backend) -> None:
    with connector_for(backend) as connector:
        assert connector.fetch_aggregates(GROUPED, {"low": 1}, max_rows=10) == [("F", 2), ("M", 1)]


def test_it_refuses_more_rows_than_the_cap_and_names_the_cap(backend: Backend) -> None:
    with connector_for(backend) as connector, pytest.raises(BackendUnavailable) as refused:
        connector.fetch_aggregates(GROUPED, {"low": 1}, max_rows=1)
    assert "more than 1 groups" in refused.value.message
    assert not isinstance(refused.value, BackendUnreachable)


def test_it_stops_a_query_that_runs_longer_than_the_timeout(backend: Backend) -> None:
    dialect = "postgresql" if backend.kind == Backend.Kind.POSTGRESQL else backend.kind
    with connector_for(backend) as connector, pytest.raises(BackendUnavailable) as stopped:
        connector.fetch_aggregates(SLOW[dialect], {}, max_rows=10, timeout_seconds=0.5)
    assert stopped.value.message == "the aggregate query ran longer than 0.5 s and was stopped"


def test_it_cannot_write_to_the_backend(backend: Backend) -> None:
    with connector_for(backend) as connector, pytest.raises(BackendUnavailable):
        connector.fetch_aggregates("INSERT INTO people VALUES (9, 'F', 'z')", {}, max_rows=10)
    with connector_for(backend) as connector:
        assert connector.fetch_aggregates("SELECT COUNT(*) FROM people", {}, max_rows=1) == [(3,)]


FAILING = {
    # Each backend quotes the value it could not convert in its own message.
    "sqlite": "SELECT json_extract('{}', secret) FROM people WHERE person_id = 1",
    "duckdb": "SELECT CAST(secret AS INTEGER) FROM people WHERE person_id = 1",
    "postgresql": "SELECT CAST(secret AS INTEGER) FROM people WHERE person_id = 1",
}


def test_a_failing_query_never_quotes_a_data_value(backend: Backend) -> None:
    dialect = "postgresql" if backend.kind == Backend.Kind.POSTGRESQL else backend.kind
    with connector_for(backend) as connector, pytest.raises(BackendUnavailable) as failed:
        connector.fetch_aggregates(FAILING[dialect], {}, max_rows=10)
    assert "could not compute the aggregates" in failed.value.message
    assert "4711" not in failed.value.message


def test_a_value_a_backend_names_without_quotes_is_withheld_too(duckdb_backend: Backend) -> None:
    overflow = "SELECT MAX(person_id::BIGINT + 4711::BIGINT + 9223372036854775000::BIGINT) FROM people"
    with connector_for(duckdb_backend) as connector, pytest.raises(BackendUnavailable) as failed:
        connector.fetch_aggregates(overflow, {}, max_rows=10)
    assert failed.value.message.startswith("the backend could not compute the aggregates (OutOfRangeException")
    assert "4711" not in failed.value.message and "47" not in failed.value.message


def test_an_unreachable_backend_is_told_apart_from_a_failed_query(tmp_path: Path) -> None:
    missing = Backend(kind=Backend.Kind.SQLITE, url=str(tmp_path / "missing.sqlite3"))
    with connector_for(missing) as connector, pytest.raises(BackendUnreachable) as unreachable:
        connector.fetch_aggregates("SELECT 1", {}, max_rows=10)
    assert "file not found" in unreachable.value.message

    closed_port = Backend(kind=Backend.Kind.POSTGRESQL, url="postgresql://postgres@127.0.0.1:1/nothing")
    with connector_for(closed_port) as connector, pytest.raises(BackendUnreachable) as refused:
        connector.fetch_aggregates("SELECT 1", {}, max_rows=10)
    assert "could not connect" in refused.value.message
