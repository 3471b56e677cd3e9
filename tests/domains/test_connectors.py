import sqlite3
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from apps.core.errors import BackendUnavailable
from apps.domains.connectors import ColumnInfo, connector_for, logical_type_for
from apps.domains.models import Backend
from tests.domains.backends import PasswordServer, free_port

Kind = Backend.Kind


def _connector(kind: str, url: str, password: str = ""):
    return connector_for(Backend(kind=kind, url=url), password=password)


def _tables(kind: str, url: str, password: str = "") -> dict[tuple[str, str], list[ColumnInfo]]:
    with _connector(kind, url, password) as connector:
        return {(t.schema, t.name): t.columns for t in connector.list_tables()}


def test_it_lists_the_tables_and_column_types_of_a_sqlite_file(sqlite_file):
    tables = _tables(Kind.SQLITE, str(sqlite_file))
    assert set(tables) == {("main", "staff"), ("main", "teams")}
    assert [(c.name, c.data_type) for c in tables[("main", "staff")]] == [
        ("person_id", "INTEGER"), ("full_name", "TEXT"), ("email", "TEXT"), ("age", "INTEGER"), ("salary", "REAL"),
    ]  # fmt: skip


def test_a_sqlite_file_is_opened_read_only(sqlite_file):
    with _connector(Kind.SQLITE, str(sqlite_file)) as connector:
        assert connector.row_count(("main", "staff")) == 3
        with pytest.raises(sa.exc.OperationalError, match="readonly"), connector.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM staff"))
    with sqlite3.connect(sqlite_file) as db:
        assert db.execute("SELECT count(*) FROM staff").fetchone() == (3,)


def test_it_previews_rows_with_quoted_identifiers(tmp_path):
    path = tmp_path / "odd.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "odd ""table""; DROP TABLE x" ("select" INTEGER, "a b" TEXT)')
        db.execute('INSERT INTO "odd ""table""; DROP TABLE x" VALUES (1, \'one\'), (2, \'two\')')
        db.execute("CREATE TABLE x (id INTEGER)")
    with _connector(Kind.SQLITE, str(path)) as connector:
        (table,) = [t for t in connector.list_tables() if t.name != "x"]
        rows = connector.preview_rows(table.schema, table.name, ["select", "a b"], 1)
        assert rows == [(1, "one")]
        assert connector.row_count(table) == 2
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM x").fetchone() == (0,)


def test_it_reads_a_duckdb_file_read_only_with_its_schemas(duckdb_file):
    with _connector(Kind.DUCKDB, str(duckdb_file)) as connector:
        tables = {(t.schema, t.name): t for t in connector.list_tables()}
        assert set(tables) == {("main", "orders"), ("archive", "orders_2024")}
        assert connector.row_count(tables[("main", "orders")]) == 250
        with pytest.raises(sa.exc.DBAPIError, match="read-only"), connector.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM orders"))
    with duckdb.connect(str(duckdb_file), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone() == (250,)


def test_a_folder_of_parquet_and_csv_files_becomes_one_view_per_file(data_folder):
    with _connector(Kind.DUCKDB_FOLDER, str(data_folder)) as connector:
        tables = {t.name: t for t in connector.list_tables()}
        assert set(tables) == {"regions", "channels"}
        assert [c.name for c in tables["channels"].columns] == ["channel", "share"]
        assert connector.row_count(tables["regions"]) == 12
        assert connector.preview_rows("main", "channels", ["channel"], 2) == [("web",), ("shop",)]


def test_postgresql_connections_are_read_only(shared_pg):
    with _connector(Kind.POSTGRESQL, shared_pg) as connector:
        tables = {(t.schema, t.name): t for t in connector.list_tables()}
        assert set(tables) == {("public", "people"), ("finance", "ledger")}
        people = {c.name: c.data_type for c in tables[("public", "people")].columns}
        assert people["salary"] == "NUMERIC(10, 2)"
        assert connector.row_count(tables[("public", "people")]) == 3
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"), connector.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM people"))
        assert connector.row_count(("public", "people")) == 3


def test_a_wrong_postgresql_password_names_the_problem_without_the_password(password_pg: PasswordServer):
    with (
        pytest.raises(BackendUnavailable) as refused,
        _connector(Kind.POSTGRESQL, password_pg.url(), "wrong-pw-1") as c,
    ):
        c.check()
    assert 'password authentication failed for user "reader"' in refused.value.message
    assert "wrong-pw-1" not in refused.value.message
    with _connector(Kind.POSTGRESQL, password_pg.url(), password_pg.password) as connector:
        connector.check()
        assert connector.row_count(("public", "sales")) == 2


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        (Kind.SQLITE, "/nowhere/staff.sqlite3", "file not found: /nowhere/staff.sqlite3"),
        (Kind.DUCKDB, "/nowhere/shop.duckdb", "file not found: /nowhere/shop.duckdb"),
        (Kind.DUCKDB_FOLDER, "/nowhere/files", "folder not found: /nowhere/files"),
        (Kind.SQLALCHEMY, "nosuchdb+driver://u:hunter2@h/db", "unknown database driver"),
        (Kind.POSTGRESQL, "postgresql://u:hunter2@[::bad", "not a valid SQLAlchemy URL"),
        (Kind.POSTGRESQL, "postgresql://u:hunter2@nohost.invalid/db", "could not connect"),
    ],
)
def test_every_failure_is_backend_unavailable_naming_the_problem(kind, url, message):
    with pytest.raises(BackendUnavailable) as refused, _connector(kind, url) as connector:
        connector.check()
    assert message in refused.value.message
    assert "hunter2" not in refused.value.message


def test_an_unreachable_host_is_reported_quickly(settings):
    settings.PORTAL_BACKEND_TIMEOUT_SECONDS = 2
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/db"
    with (
        pytest.raises(BackendUnavailable, match="Connection refused") as refused,
        _connector(Kind.POSTGRESQL, url) as c,
    ):
        c.check()
    assert "hunter2" not in refused.value.message


def test_a_failed_read_does_not_quote_data_values(tmp_path: Path):
    path = tmp_path / "bad.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE t (v VARCHAR)")
        db.execute("INSERT INTO t VALUES ('Jane Secret')")
        db.execute("CREATE VIEW nums AS SELECT CAST(v AS INTEGER) AS n FROM t")
    with _connector(Kind.DUCKDB, str(path)) as connector, pytest.raises(BackendUnavailable) as refused:
        connector.preview_rows("main", "nums", ["n"], 5)
    assert "could not read rows of nums" in refused.value.message
    assert "Jane" not in refused.value.message


@pytest.mark.parametrize(
    ("data_type", "logical"),
    [
        ("INTEGER", "integer"), ("BIGINT", "integer"), ("int4", "integer"), ("HUGEINT", "integer"),
        ("NUMERIC(10, 0)", "integer"), ("NUMERIC(10, 2)", "float"), ("DOUBLE PRECISION", "float"),
        ("REAL", "float"), ("DECIMAL(8,2)", "float"), ("VARCHAR(50)", "string"), ("TEXT", "string"),
        ("CHARACTER VARYING", "string"), ("BOOLEAN", "boolean"), ("DATE", "date"), ("TIMESTAMP", "datetime"),
        ("TIMESTAMP WITH TIME ZONE", "datetime"), ("TIME", "other"), ("INTERVAL", "other"), ("POINT", "other"),
        ("INTEGER[]", "other"), ("BLOB", "other"), ("", "other"),
    ],
)  # fmt: skip
def test_backend_types_map_to_logical_types(data_type, logical):
    assert logical_type_for(data_type) == logical


def test_a_broken_file_in_a_folder_is_named_in_the_message(data_folder):
    (data_folder / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BackendUnavailable) as refused, _connector(Kind.DUCKDB_FOLDER, str(data_folder)) as connector:
        connector.check()
    assert refused.value.message.startswith("could not read broken.parquet:")


def test_a_file_that_is_not_a_database_is_reported(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_text("hello, not a database " * 100)
    with pytest.raises(BackendUnavailable, match="file is not a database"), _connector(Kind.SQLITE, str(path)) as c:
        c.list_tables()
