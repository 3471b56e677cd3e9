"""Real backends for tests: SQLite and DuckDB files, a folder of Parquet and CSV files, a throwaway
database on the shared PostgreSQL server, and a private PostgreSQL server that checks passwords
(the shared one trusts every local connection, so it cannot refuse a wrong password)."""

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

SHARED_PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PEOPLE = [(1, "Ann", "ann@example.org", 34, 52000), (2, "Ben", "ben@example.org", 41, 61000),
          (3, "Cid", "cid@example.org", 29, 48000)]  # fmt: skip


def make_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE staff (person_id INTEGER, full_name TEXT, email TEXT, age INTEGER, salary REAL)")
        db.executemany("INSERT INTO staff VALUES (?, ?, ?, ?, ?)", PEOPLE)
        db.execute("CREATE TABLE teams (team_id INTEGER, label TEXT)")
        db.execute("INSERT INTO teams VALUES (1, 'core')")
    return path


def make_duckdb(path: Path, *, orders: int = 250) -> Path:
    with duckdb.connect(str(path)) as db:
        db.execute(
            "CREATE TABLE orders AS SELECT i AS order_id, i % 40 AS customer_id, (i % 7) * 1.5 AS amount, "
            "DATE '2025-01-01' + CAST(i % 300 AS INTEGER) AS ordered_on FROM range(?) r(i)",
            [orders],
        )
        db.execute("CREATE SCHEMA archive")
        db.execute("CREATE TABLE archive.orders_2024 (order_id BIGINT, amount DOUBLE)")
    return path


def make_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as db:
        regions = db.sql("SELECT i AS region_id, 'r' || i AS region, i * 10 AS revenue FROM range(12) r(i)")
        regions.write_parquet(str(path / "regions.parquet"))
    (path / "channels.csv").write_text("channel,share\nweb,0.5\nshop,0.3\nphone,0.2\n")
    (path / "notes.txt").write_text("not a table\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def shared_postgres_database(prefix: str = "mesh_h1_test") -> Iterator[str]:
    """A throwaway database on the shared server with ``people`` and ``finance.ledger``; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**SHARED_PG, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(**SHARED_PG, dbname=name, autocommit=True) as db:
            db.execute(
                "CREATE TABLE people (person_id integer, full_name text, email text, age integer, salary numeric(10,2))"
            )
            with db.cursor() as cursor:
                cursor.executemany("INSERT INTO people VALUES (%s, %s, %s, %s, %s)", PEOPLE)
            db.execute("CREATE SCHEMA finance")
            db.execute("CREATE TABLE finance.ledger (entry_id bigint, booked_at timestamptz, amount double precision)")
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(**SHARED_PG, dbname="postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class PasswordServer:
    port: int
    user: str
    password: str
    dbname: str

    def url(self, *, password: str | None = None) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{self.user}{secret}@127.0.0.1:{self.port}/{self.dbname}"


def _initdb() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


@contextmanager
def password_postgres_server() -> Iterator[PasswordServer | None]:
    """A private PostgreSQL server with scram-sha-256 over TCP; ``None`` without server binaries."""
    bindir = _initdb()
    if bindir is None:
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="h1-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()
    run = {"check": True, "capture_output": True, "timeout": 60}
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"], **run)  # fmt: skip
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
                        "-w", "start"], **run)  # fmt: skip
        server = PasswordServer(port=port, user="reader", password="right-horse-battery", dbname="shop")
        with psycopg.connect(host=str(base), port=port, user="postgres", dbname="postgres", autocommit=True) as db:
            db.execute(sql.SQL("CREATE ROLE reader LOGIN PASSWORD {}").format(sql.Literal(server.password)))
            db.execute("CREATE DATABASE shop")
        with psycopg.connect(host=str(base), port=port, user="postgres", dbname="shop", autocommit=True) as db:
            db.execute("CREATE TABLE sales (sale_id integer, amount numeric(8,2))")
            db.execute("INSERT INTO sales VALUES (1, 9.50), (2, 12.00)")
            db.execute("GRANT SELECT ON sales TO reader")
        yield server
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)
