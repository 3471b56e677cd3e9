"""Connections to the backends a domain registers, through SQLAlchemy 2.

One connector per backend kind, all behind the same small interface:

- PostgreSQL (psycopg 3): every transaction is read-only (``default_transaction_read_only=on``)
  and connecting gives up after ``PORTAL_BACKEND_TIMEOUT_SECONDS``. Give it a role that can only
  read, too: a session can switch the setting back; the role cannot.
- SQLite file: opened with ``file:PATH?mode=ro``, so the engine refuses every write.
- DuckDB database file: opened with ``read_only=True``.
- Folder of Parquet/CSV files: an in-memory DuckDB database with one view per file, named after
  the file stem; the files are only ever read.
- Any other SQLAlchemy URL: **no read-only guarantee**; the portal never writes, but only the
  credentials you register can make the backend refuse writes.

Every failure becomes ``BackendUnavailable`` with a message that names the problem; a message
never holds the password, and messages of failed reads are stripped of quoted values. Connections
are never pooled: each call opens one and closes it.

``fetch_aggregates`` runs the SQL the DP query compiler wrote (never an analyst's text) and returns
only its rows, the per-group aggregates: in a read-only transaction, stopped after a timeout
(PostgreSQL's ``statement_timeout``; an interrupt from a timer for SQLite and DuckDB), and refused
beyond ``max_rows`` rows. It tells apart a backend it could not reach (``BackendUnreachable``: no
statement ran, no data was read) from a query that failed once started. The message of a failed
aggregate query names only the error's class and SQLSTATE: backends quote values in their messages
(``Overflow in addition of INT64 (9223372036854775807 + 1)``), quoted or not.
"""

import os
import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import sqlalchemy as sa
from django.conf import settings
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from apps.core.errors import BackendUnavailable
from apps.domains.crypto import decrypt_password
from apps.domains.models import Backend


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    data_type: str
    nullable: bool
    unique: bool = False  # a single-column PRIMARY KEY or UNIQUE constraint: the backend enforces it


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: list[ColumnInfo]


class Connector(Protocol):
    default_schema: str

    def check(self) -> None: ...
    def list_tables(self) -> list[TableInfo]: ...
    def row_count(self, table: TableInfo | tuple[str, str]) -> int: ...
    def preview_rows(self, schema: str, table: str, columns: list[str], limit: int) -> list[tuple]: ...
    def fetch_aggregates(
        self, sql: str, params: dict[str, Any], *, max_rows: int, timeout_seconds: float | None = None
    ) -> list[tuple]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...


FOLDER_SUFFIXES = {".parquet": "read_parquet", ".csv": "read_csv_auto"}
_SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "pg_toast", "sys", "mysql", "performance_schema"})
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


class BackendUnreachable(BackendUnavailable):
    """The backend could not be reached: no statement ran, no data was read."""


DEFAULT_AGGREGATE_TIMEOUT_SECONDS = 300


def _aggregate_failure(exc: BaseException, *, timed_out: bool, timeout: float) -> BackendUnavailable:
    """A failed aggregate query, named by the error's class and SQLSTATE only (never its text)."""
    original = getattr(exc, "orig", None) or exc
    name = type(original).__name__
    if timed_out or name in ("QueryCanceled", "InterruptException"):
        return BackendUnavailable(f"the aggregate query ran longer than {timeout:g} s and was stopped")
    sqlstate = getattr(original, "sqlstate", None)
    code = f", SQLSTATE {sqlstate}" if isinstance(sqlstate, str) and sqlstate.isalnum() else ""
    return BackendUnavailable(
        f"the backend could not compute the aggregates ({name}{code}); its message is withheld as it may quote data"
    )


def _interrupt(raw: Any) -> None:
    """Stop the statement running on a DB-API connection (sqlite3, DuckDB: interrupt; psycopg: cancel)."""
    for name in ("interrupt", "cancel"):
        method = getattr(raw, name, None)
        if callable(method):
            with suppress(Exception):
                method()
            return


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split("\n")[0].split())
    for noise in ("connection failed: ", "FATAL: "):
        text = text.replace(noise, "")
    return text or type(original).__name__


def _unavailable(
    what: str, exc: BaseException, *, secrets: tuple[str, ...] = (), keep: frozenset[str] | None = None
) -> BackendUnavailable:
    """An error for the user. With ``keep``, quoted parts other than those identifiers are masked:
    a failed read may quote a data value (a CSV line, a value that did not convert)."""
    detail = _first_line(exc)
    if keep is not None:
        detail = _QUOTED.sub(lambda m: m.group(0) if m.group(0)[1:-1] in keep else "'…'", detail)
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "***")
    return BackendUnavailable(f"{what}: {detail}"[:480])


class SqlAlchemyConnector:
    """The one implementation: an engine plus what this kind of backend needs before connecting."""

    def __init__(
        self,
        engine: Engine,
        *,
        default_schema: str,
        secrets: tuple[str, ...] = (),
        preflight: Callable[[], None] | None = None,
        lister: Callable[[Connection], list[TableInfo]] | None = None,
    ) -> None:
        self.engine = engine
        self.default_schema = default_schema
        self._secrets = secrets
        self._preflight = preflight
        self._lister = lister or _inspect_tables

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._preflight is not None:
            self._preflight()
        try:
            conn = self.engine.connect()
        except BackendUnavailable:
            raise
        except Exception as exc:
            raise _unavailable("could not connect", exc, secrets=self._secrets) from None
        try:
            yield conn
        finally:
            conn.close()

    def _read(self, what: str, run: Callable[[Connection], Any], keep: set[str]) -> Any:
        with self._connect() as conn:
            try:
                return run(conn)
            except BackendUnavailable:
                raise
            except Exception as exc:
                raise _unavailable(what, exc, secrets=self._secrets, keep=frozenset(keep)) from None

    def check(self) -> None:
        self._read("could not query the backend", lambda conn: conn.execute(sa.text("SELECT 1")).scalar(), set())

    def list_tables(self) -> list[TableInfo]:
        """Names and types only: never reads a data value."""
        return self._read("could not read the list of tables", self._lister, set())

    def _table(self, schema: str | None, name: str, columns: list[str] | None = None) -> sa.TableClause:
        return sa.table(name, *[sa.column(c) for c in columns or []], schema=schema or None)

    def row_count(self, table: TableInfo | tuple[str, str]) -> int:
        """Reads data: callers use it for open datasets only."""
        schema, name = (table.schema, table.name) if isinstance(table, TableInfo) else table
        query = sa.select(sa.func.count()).select_from(self._table(schema, name))
        return int(self._read(f"could not count the rows of {name}", lambda c: c.execute(query).scalar(), {name}))

    def preview_rows(self, schema: str, table: str, columns: list[str], limit: int) -> list[tuple]:
        """Reads data: callers use it for open datasets only."""
        clause = self._table(schema, table, columns)
        selected = [clause.c[c] for c in columns] if columns else [sa.literal_column("*")]
        query = sa.select(*selected).select_from(clause).limit(max(0, int(limit)))
        keep = {table, schema, *columns}
        return self._read(f"could not read rows of {table}", lambda c: [tuple(r) for r in c.execute(query).all()], keep)

    def fetch_aggregates(
        self, sql: str, params: dict[str, Any], *, max_rows: int, timeout_seconds: float | None = None
    ) -> list[tuple]:
        """Run compiled aggregate SQL (bound ``params``) read-only; at most ``max_rows`` rows."""
        timeout = float(
            timeout_seconds or getattr(settings, "PORTAL_QUERY_TIMEOUT_SECONDS", DEFAULT_AGGREGATE_TIMEOUT_SECONDS)
        )
        postgres = self.engine.dialect.name == "postgresql"
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(self._connect())
            except BackendUnavailable as exc:
                raise BackendUnreachable(exc.message) from None
            fired = threading.Event()

            def stop() -> None:
                fired.set()
                _interrupt(conn.connection.dbapi_connection)

            # PostgreSQL stops the statement itself; the timer is its fallback and the others' only guard.
            timer = threading.Timer(timeout + (1 if postgres else 0), stop)
            stack.callback(timer.cancel)
            try:
                if postgres:
                    conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                    conn.execute(
                        sa.text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout * 1000))}
                    )
                timer.start()
                result = conn.execute(sa.text(sql), params)
                rows = [tuple(row) for row in result.fetchmany(max_rows + 1)]
                result.close()
                conn.rollback()
            except Exception as exc:
                raise _aggregate_failure(exc, timed_out=fired.is_set(), timeout=timeout) from None
        if len(rows) > max_rows:
            raise BackendUnavailable(f"the query gave more than {max_rows} groups, the most the portal fetches")
        return rows

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _type_name(column: dict[str, Any], dialect: sa.Dialect) -> str:
    try:
        return str(column["type"].compile(dialect=dialect))
    except Exception:
        return str(column["type"].__class__.__name__).upper()


def _inspect_tables(conn: Connection) -> list[TableInfo]:
    inspector = sa.inspect(conn)
    tables: list[TableInfo] = []
    for schema in sorted(inspector.get_schema_names()):
        if schema in _SYSTEM_SCHEMAS or schema.startswith("pg_"):
            continue
        names = set(inspector.get_table_names(schema=schema)) | set(inspector.get_view_names(schema=schema))
        with suppress(NotImplementedError):
            names |= set(inspector.get_materialized_view_names(schema=schema))
        for name in sorted(names):
            unique = _unique_columns(inspector, name, schema)
            columns = [
                ColumnInfo(c["name"], _type_name(c, conn.dialect), bool(c.get("nullable", True)), c["name"] in unique)
                for c in inspector.get_columns(name, schema=schema)
            ]
            tables.append(TableInfo(schema=schema, name=name, columns=columns))
    return tables


def _unique_columns(inspector: sa.Inspector, table: str, schema: str) -> set[str]:
    """The columns a single-column primary key or unique constraint covers (schema metadata only)."""
    keys = [inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or []]
    with suppress(NotImplementedError):
        keys += [c.get("column_names") or [] for c in inspector.get_unique_constraints(table, schema=schema)]
    return {key[0] for key in keys if len(key) == 1}


def _duckdb_tables(conn: Connection) -> list[TableInfo]:
    """DuckDB's inspector mixes catalogs into schema names; its information_schema does not."""
    columns = conn.execute(
        sa.text(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable "
            "FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY table_schema, table_name, ordinal_position"
        )
    ).all()
    # duckdb_engine's inspector fails on constraints (it sends PostgreSQL catalog queries): DuckDB's own list.
    constraints = conn.execute(
        sa.text(
            "SELECT schema_name, table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE database_name = current_database() AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
        )
    ).all()
    unique = {(schema, table, names[0]) for schema, table, names in constraints if len(names) == 1}
    grouped: dict[tuple[str, str], list[ColumnInfo]] = {}
    for schema, table, name, data_type, nullable in columns:
        info = ColumnInfo(name, str(data_type), str(nullable).upper() == "YES", (schema, table, name) in unique)
        grouped.setdefault((schema, table), []).append(info)
    return [TableInfo(schema=s, name=t, columns=cols) for (s, t), cols in grouped.items()]


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _require_file(path: Path) -> Callable[[], None]:
    def preflight() -> None:
        if not path.is_file():
            raise BackendUnavailable(f"could not connect: file not found: {path}")
        if not os.access(path, os.R_OK):
            raise BackendUnavailable(f"could not connect: the portal may not read the file {path}")

    return preflight


def _require_folder(path: Path) -> Callable[[], None]:
    def preflight() -> None:
        if not path.is_dir():
            raise BackendUnavailable(f"could not connect: folder not found: {path}")

    return preflight


def folder_views(folder: Path) -> dict[str, Path]:
    """View name → file, for the Parquet and CSV files directly in ``folder``."""
    views: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix.lower() in FOLDER_SUFFIXES:
            name = file.stem if file.stem not in views else f"{file.stem}_{file.suffix.lower().lstrip('.')}"
            views[name] = file
    return views


def file_path(kind: str, url: str) -> Path:
    """The path of a file or folder backend; ``sqlite:///x``/``duckdb:///x`` URLs are accepted too."""
    if "://" in url:
        try:
            database = make_url(url).database or ""
        except Exception:
            raise BackendUnavailable(f"not a valid URL or path for a {kind} backend") from None
        url = database
    if not url.strip():
        raise BackendUnavailable(f"a {kind} backend needs a path")
    return Path(url).expanduser()


def _postgresql(url: URL, password: str) -> SqlAlchemyConnector:
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+psycopg")
    if password:
        url = url.set(password=password)
    timeout = int(settings.PORTAL_BACKEND_TIMEOUT_SECONDS)
    engine = sa.create_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": timeout,
            "options": "-c default_transaction_read_only=on",
            "application_name": "mesh-portal",
        },
    )
    return SqlAlchemyConnector(engine, default_schema="public", secrets=(password,))


def _sqlite(path: Path) -> SqlAlchemyConnector:
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    timeout = int(settings.PORTAL_BACKEND_TIMEOUT_SECONDS)
    engine = sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=timeout), poolclass=NullPool
    )
    return SqlAlchemyConnector(engine, default_schema="main", preflight=_require_file(path))


def _duckdb(path: Path) -> SqlAlchemyConnector:
    engine = sa.create_engine(
        URL.create("duckdb", database=str(path.resolve())), poolclass=NullPool, connect_args={"read_only": True}
    )
    return SqlAlchemyConnector(engine, default_schema="main", preflight=_require_file(path), lister=_duckdb_tables)


def _duckdb_folder(folder: Path) -> SqlAlchemyConnector:
    engine = sa.create_engine("duckdb:///:memory:", poolclass=NullPool)
    preparer = engine.dialect.identifier_preparer

    @sa.event.listens_for(engine, "connect")
    def create_views(dbapi_connection: Any, _record: Any) -> None:
        for name, file in folder_views(folder).items():
            reader = FOLDER_SUFFIXES[file.suffix.lower()]
            # Both parts are quoted: the view name as an identifier, the path as a string literal.
            statement = f"CREATE VIEW {preparer.quote_identifier(name)} AS SELECT * FROM {reader}"  # noqa: S608
            try:
                dbapi_connection.execute(f"{statement}({_quote_literal(str(file.resolve()))})")
            except Exception as exc:
                raise _unavailable(f"could not read {file.name}", exc, keep=frozenset({str(file.resolve())})) from None

    return SqlAlchemyConnector(engine, default_schema="main", preflight=_require_folder(folder), lister=_duckdb_tables)


def _any_url(url: URL, password: str) -> SqlAlchemyConnector:
    if password:
        url = url.set(password=password)
    engine = sa.create_engine(url, poolclass=NullPool)
    dialect = engine.dialect
    default = "main" if dialect.name in ("sqlite", "duckdb") else "public" if dialect.name == "postgresql" else ""
    lister = _duckdb_tables if dialect.name == "duckdb" else None
    return SqlAlchemyConnector(engine, default_schema=default, secrets=(password,), lister=lister)


def parse_url(url: str) -> URL:
    try:
        return make_url(url.strip())
    except Exception:
        raise BackendUnavailable("not a valid SQLAlchemy URL (expected e.g. dialect+driver://user@host/db)") from None


def connector_for(backend: Backend, *, password: str | None = None) -> Connector:
    """A connector for the backend; ``password`` overrides the stored (encrypted) one."""
    if password is None:
        password = decrypt_password(backend.encrypted_password)
    kind = backend.kind
    try:
        if kind == Backend.Kind.POSTGRESQL:
            return _postgresql(parse_url(backend.url), password)
        if kind == Backend.Kind.SQLITE:
            return _sqlite(file_path(kind, backend.url))
        if kind == Backend.Kind.DUCKDB:
            return _duckdb(file_path(kind, backend.url))
        if kind == Backend.Kind.DUCKDB_FOLDER:
            return _duckdb_folder(file_path(kind, backend.url))
        if kind == Backend.Kind.SQLALCHEMY:
            return _any_url(parse_url(backend.url), password)
    except BackendUnavailable:
        raise
    except sa.exc.NoSuchModuleError as exc:
        raise _unavailable("unknown database driver", exc, secrets=(password,)) from None
    except Exception as exc:
        raise _unavailable("could not set up the connection", exc, secrets=(password,)) from None
    raise BackendUnavailable(f"unknown backend kind {kind!r}")


_LOGICAL = [
    (re.compile(r"^(BOOL|BOOLEAN|BIT)$"), "boolean"),
    (re.compile(r"^(INTERVAL|POINT)"), "other"),
    (re.compile(r"^(U?(TINY|SMALL|MEDIUM|BIG|HUGE)?INT(EGER)?\d*|U?HUGEINT|(SMALL|BIG)?SERIAL\d*|LONG)$"), "integer"),
    (re.compile(r"^(FLOAT\d*|REAL|DOUBLE|DOUBLE PRECISION|NUMERIC|DECIMAL|NUMBER|MONEY)$"), "float"),
    (re.compile(r"^(TIMESTAMP|DATETIME|TIMESTAMPTZ|TIMESTAMP_\w+|DATETIME2|DATETIMEOFFSET)"), "datetime"),
    (re.compile(r"^DATE$"), "date"),
    (re.compile(r"(CHAR|TEXT|STRING|CLOB|UUID|ENUM|NAME|CITEXT)"), "string"),
]


def logical_type_for(data_type: str) -> str:
    """The ``Column.LogicalType`` value for a type name a backend reports (e.g. ``VARCHAR(50)``)."""
    base = re.sub(r"\(.*?\)", "", data_type or "").strip().upper()
    base = re.sub(r"\s+WITH(OUT)?\s+TIME\s+ZONE$", "", base)
    base = re.sub(r"^(UNSIGNED|SIGNED)\s+|\s+(UNSIGNED|SIGNED)$", "", base)
    if "[]" in base or base.startswith(("ARRAY", "LIST")):
        return "other"
    if base in ("NUMERIC", "DECIMAL") and re.search(r"\(\s*\d+\s*,\s*0\s*\)", data_type):
        return "integer"
    for pattern, logical in _LOGICAL:
        if pattern.search(base):
            return logical
    return "other"
