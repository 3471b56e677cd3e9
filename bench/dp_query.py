"""A DP SQL query through the portal against the same query in raw SQL and in smartnoise-sql.

    .venv/bin/python bench/dp_query.py                  # 10,000,000 rows (generating them takes 1-2 min)
    .venv/bin/python bench/dp_query.py --small          # 1,000,000 rows
    .venv/bin/python bench/dp_query.py --reuse          # measure again, without regenerating
    .venv/bin/python bench/dp_query.py --explain        # also print EXPLAIN ANALYZE of raw vs pushdown

It (re)creates two PostgreSQL databases on 127.0.0.1:5432: ``portal_bench_dpq`` holds the data,
``portal_bench_dpq_portal`` the portal's own tables (migrated, with a domain, a PostgreSQL backend
pointing at the data and the datasets with their declared bounds and categories). The data, made by
``generate_series`` in SQL:

- ``people``: N rows, each person 1 to 5 rows (about N/3 persons) spread over the table;
  person_id, state (50 values), income (integer, mostly within the declared 0..200000, about 1%
  above), age (integer 18..90). Dataset: privacy unit person_id, at most 5 rows per person.
- ``people_one``: N rows, one per person, ``person_id`` its PRIMARY KEY (one row per person
  guaranteed by the backend). Dataset: at most 1 row per person, ``person_id`` NOT NULL and unique as
  a harvest reads the primary key, so the compiler's plan needs no bounding window (``unit_unique``).

The query, ``SELECT state, COUNT(*), SUM(income), AVG(age) FROM <table> GROUP BY state``, runs
interleaved, one of each per round, and the medians of the rounds are compared:

- raw: the query as it is, over a fresh psycopg connection;
- portal: what a query worker does: read the dataset, compile the query
  (``compile_dp_query``), write the pushdown (``pushdown_sql``), run it through the backend's
  connector (``fetch_aggregates``: read-only, a statement timeout) and add the noise (``release``,
  Laplace, epsilon 1): everything but the job's bookkeeping;
- smartnoise: ``snsql.from_connection`` on a fresh psycopg connection, metadata with the same
  bounds and max_ids, epsilon 1, delta 1e-5.

Then the worker's memory: the portal path runs once in a fresh process per table size and reports
its peak RSS and tracemalloc's peak, to show that memory does not grow with the table (only one row
per group leaves PostgreSQL).
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_URL = "postgres://postgres@127.0.0.1:5432/portal_bench_dpq"
PORTAL_URL = "postgres://postgres@127.0.0.1:5432/portal_bench_dpq_portal"
QUERY = "SELECT state, COUNT(*), SUM(income), AVG(age) FROM {table} GROUP BY state"
EPSILON = Decimal(1)
SMARTNOISE_DELTA = 1e-5
TARGET_BOUNDED = 2.0
TARGET_ONE_ROW = 1.2
SMARTNOISE_REFERENCE = 14.0
STATES = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
]  # fmt: skip
# table -> (declared max rows per person, person_id is the table's PRIMARY KEY)
TABLES = {"people": (5, False), "people_one": (1, True)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="1,000,000 rows instead of 10,000,000")
    parser.add_argument("--rows", type=int, default=None, help="rows of each table (overrides --small)")
    parser.add_argument("--repeats", type=int, default=3, help="measured rounds (medians of these); at least 3")
    parser.add_argument("--reuse", action="store_true", help="measure the databases a previous run filled")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of raw SQL and the pushdown")
    parser.add_argument("--no-smartnoise", action="store_true", help="leave smartnoise-sql out")
    parser.add_argument("--data-url", default=DATA_URL)
    parser.add_argument("--portal-url", default=PORTAL_URL)
    parser.add_argument("--memory-child", metavar="TABLE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rows is None:
        args.rows = 1_000_000 if args.small else 10_000_000
    if args.repeats < 3 and not args.memory_child:
        parser.error("--repeats must be at least 3")
    return args


# --- databases ------------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing odd database name {name!r}")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def generate(url: str, rows: int) -> None:
    """Both tables, in SQL. A person's rows are spread over ``people`` (its r-th rows come in the
    r-th sweep), as in a table of events, not stored next to each other."""
    import psycopg

    persons = rows // 3 + rows // 100 + 10  # 1 + hash % 5 rows each, 3 on average: a few more than needed
    states = "ARRAY[" + ", ".join(f"'{s}'" for s in STATES) + "]"
    values = (
        f"({states})[1 + floor(random() * 50)::int], "
        "floor(-ln(1 - random()) * 45000)::int, "  # skewed; about 1% above the declared 200000
        "18 + floor(random() * 73)::int"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SELECT setseed(0.2025)")
        started = time.monotonic()
        conn.execute(
            "CREATE TABLE people (person_id integer NOT NULL, state text NOT NULL, "
            "income integer NOT NULL, age integer NOT NULL)"
        )
        conn.execute(
            f"INSERT INTO people SELECT p, {values} "
            f"FROM generate_series(1, 5) AS r, generate_series(1, {persons}) AS p "
            f"WHERE r <= 1 + (hashint4(p) & 2147483647) % 5 LIMIT {rows}"
        )
        conn.execute(
            "CREATE TABLE people_one (person_id integer NOT NULL PRIMARY KEY, state text NOT NULL, "
            "income integer NOT NULL, age integer NOT NULL)"
        )
        conn.execute(f"INSERT INTO people_one SELECT p, {values} FROM generate_series(1, {rows}) AS p")
        generated = time.monotonic()
        conn.execute("VACUUM ANALYZE people")
        conn.execute("VACUUM ANALYZE people_one")
        stats = conn.execute(
            "SELECT count(*), count(DISTINCT person_id), max(n) FROM "
            "(SELECT person_id, count(*) AS n FROM people GROUP BY person_id) AS per_person"
        ).fetchone()
        over = conn.execute("SELECT avg((income > 200000)::int) FROM people").fetchone()[0]
    print(
        f"generated people ({rows:,} rows, {stats[1]:,} persons, at most {stats[2]} rows each, "
        f"{float(over):.1%} of incomes above the declared bound) and people_one ({rows:,} rows) in "
        f"{generated - started:.0f} s; VACUUM ANALYZE {time.monotonic() - generated:.0f} s"
    )


def table_sizes(url: str) -> dict[str, tuple[int, str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT (SELECT count(*) FROM {table}), pg_size_pretty(pg_table_size('{table}'))"
            ).fetchone()
            for table in TABLES
        }


def setup_django(portal_url: str) -> None:
    os.environ["DATABASE_URL"] = portal_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else")
    os.environ.setdefault("PORTAL_CREDENTIALS_KEY", "YmVuY2gtb25seS1rZXktbm90LWEtc2VjcmV0LTAwMDA=")
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("PORTAL_VAR_DIR", str(Path(tempfile.gettempdir()) / "portal-bench-var"))
    static_root = Path(tempfile.gettempdir()) / "portal-bench-static"
    static_root.mkdir(exist_ok=True)
    os.environ.setdefault("DJANGO_STATIC_ROOT", str(static_root))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def declare_catalog(data_url: str) -> None:
    """The domain, its backend (the data database) and one dataset per table, declared as an owner would;
    the columns' types, nullability and uniqueness as a harvest reads them from the schema."""
    from apps.catalog.models import Column, Dataset
    from apps.domains.models import Backend, Domain, Sensitivity

    Domain.objects.filter(slug="bench").delete()
    domain = Domain.objects.create(slug="bench", name="Bench", sensitivity=Sensitivity.CONFIDENTIAL)
    url = urlsplit(data_url)._replace(scheme="postgresql").geturl()
    backend = Backend.objects.create(domain=domain, slug="warehouse", kind=Backend.Kind.POSTGRESQL, url=url)
    integer, string = Column.LogicalType.INTEGER, Column.LogicalType.STRING
    for table, (max_rows, primary_key) in TABLES.items():
        dataset = Dataset.objects.create(
            domain=domain, backend=backend, address=f"bench.warehouse.{table}", name=table, table_schema="public",
            table_name=table, sensitivity=Sensitivity.CONFIDENTIAL, privacy_unit_column="person_id",
            max_rows_per_unit=max_rows,
        )  # fmt: skip
        Column.objects.bulk_create([
            Column(dataset=dataset, name="person_id", position=0, data_type="INTEGER", logical_type=integer,
                   nullable=False, is_unique=primary_key, classification=Column.Classification.IDENTIFIER),
            Column(dataset=dataset, name="state", position=1, data_type="TEXT", logical_type=string,
                   nullable=False, categories=STATES),
            Column(dataset=dataset, name="income", position=2, data_type="INTEGER", logical_type=integer,
                   nullable=False, lower_bound=Decimal(0), upper_bound=Decimal(200_000)),
            Column(dataset=dataset, name="age", position=3, data_type="INTEGER", logical_type=integer,
                   nullable=False, lower_bound=Decimal(18), upper_bound=Decimal(90)),
        ])  # fmt: skip


# --- the three ways to answer --------------------------------------------------------------------


def raw_query(data_url: str, table: str) -> Callable[[], int]:
    import psycopg

    def run() -> int:
        with psycopg.connect(data_url) as conn:
            return len(conn.execute(QUERY.format(table=table)).fetchall())

    return run


def compiled_plan(table: str) -> Any:
    from apps.catalog.models import Dataset
    from apps.queries.compiler import compile_dp_query

    return compile_dp_query(QUERY.format(table=table), dataset=Dataset.objects.get(address=f"bench.warehouse.{table}"))


def portal_query(table: str) -> Callable[[], int]:
    from apps.catalog.models import Dataset
    from apps.domains.connectors import connector_for
    from apps.queries.compiler import dialect_for, pushdown_sql
    from apps.queries.mechanisms import release

    def run() -> int:
        dataset = Dataset.objects.select_related("backend").get(address=f"bench.warehouse.{table}")
        plan = compiled_plan(table)
        sql, params = pushdown_sql(plan, dialect=dialect_for(dataset.backend))
        with connector_for(dataset.backend) as connector:
            rows = connector.fetch_aggregates(sql, params, max_rows=100_000)
        result = release(plan, rows, mechanism="laplace", epsilon=EPSILON)
        return len(result["rows"])

    return run


def smartnoise_query(data_url: str, table: str) -> Callable[[], int]:
    import psycopg
    import snsql

    max_ids = TABLES[table][0]
    metadata = {
        "bench": {
            "public": {
                table: {
                    "max_ids": max_ids,
                    "row_privacy": False,
                    "person_id": {"type": "int", "private_id": True},
                    "state": {"type": "string"},
                    "income": {"type": "int", "lower": 0, "upper": 200_000},
                    "age": {"type": "int", "lower": 18, "upper": 90},
                }
            }
        }
    }
    privacy = snsql.Privacy(epsilon=float(EPSILON), delta=SMARTNOISE_DELTA)
    text = QUERY.format(table=f"public.{table}")

    def run() -> int:
        with psycopg.connect(data_url) as conn:
            reader = snsql.from_connection(conn, privacy=privacy, metadata=metadata, engine="postgres")
            return len(reader.execute(text)) - 1  # its first row holds the column names

    return run


# --- measuring ------------------------------------------------------------------------------------


def measure(runs: dict[str, Callable[[], int]], repeats: int) -> dict[str, list[float]]:
    """One warm-up round, then ``repeats`` rounds; each round runs every label once, in order."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for round_number in range(repeats + 1):
        for label, run in runs.items():
            started = time.perf_counter()
            groups = run()
            elapsed = time.perf_counter() - started
            if groups != len(STATES):
                raise SystemExit(f"{label}: {groups} groups, expected {len(STATES)}")
            if round_number:
                times[label].append(elapsed)
        if round_number:
            done = ", ".join(f"{label} {values[-1]:.2f}s" for label, values in times.items())
            print(f"  round {round_number}/{repeats}: {done}", flush=True)
    return times


def memory_child(table: str) -> None:
    """Run the portal path once (after a warm-up on the other table) and print its memory as JSON."""
    other = next(t for t in TABLES if t != table)
    portal_query(other)()  # imports, OpenDP's library, connection code: loaded before measuring
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak RSS (VmHWM) restarts from the current RSS
    before = _status_kib("VmRSS")
    tracemalloc.start()
    portal_query(table)()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rss_before_kib": before, "peak_rss_kib": _status_kib("VmHWM"), "traced_peak": traced_peak,
                      "lifetime_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))  # fmt: skip


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def memory(args: argparse.Namespace, table: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--memory-child", table, "--data-url", args.data_url,
               "--portal-url", args.portal_url]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def explain(data_url: str) -> None:
    import sqlalchemy as sa

    from apps.queries.compiler import pushdown_sql

    engine = sa.create_engine(urlsplit(data_url)._replace(scheme="postgresql+psycopg").geturl())
    with engine.connect() as conn:
        for table in TABLES:
            sql, params = pushdown_sql(compiled_plan(table), dialect="postgresql")
            for label, text, bound in (("raw", QUERY.format(table=table), {}), ("pushdown", sql, params)):
                plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {text}"), bound).scalars().all()
                print(f"\n--- EXPLAIN ANALYZE {label} on {table} ---\n{text}\n" + "\n".join(plan))
    engine.dispose()


def server_settings(data_url: str) -> str:
    import psycopg

    names = ["max_parallel_workers_per_gather", "work_mem", "shared_buffers", "jit"]
    with psycopg.connect(data_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        values = [f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}" for name in names]
    return f"PostgreSQL {version}, " + ", ".join(values)


def main() -> None:
    args = parse_args()
    if args.memory_child:
        setup_django(args.portal_url)
        memory_child(args.memory_child)
        return
    print(f"DP query bench: {args.rows:,} rows per table, {args.repeats} rounds, data in {args.data_url}")
    if not args.reuse:
        recreate_database(args.data_url)
        generate(args.data_url, args.rows)
        recreate_database(args.portal_url)
    setup_django(args.portal_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    declare_catalog(args.data_url)
    sizes = table_sizes(args.data_url)

    runs: dict[str, Callable[[], int]] = {}
    for table in TABLES:
        runs[f"raw {table}"] = raw_query(args.data_url, table)
        runs[f"portal {table}"] = portal_query(table)
        if not args.no_smartnoise:
            runs[f"smartnoise {table}"] = smartnoise_query(args.data_url, table)
    for table in TABLES:
        plan = compiled_plan(table)
        print(f"{table}: {sizes[table][0]:,} rows, {sizes[table][1]}; plan: at most {plan.max_rows_per_unit} "
              f"row(s) per person, unit_unique={plan.unit_unique}")  # fmt: skip

    load_before = os.getloadavg()
    started = time.monotonic()
    print("measuring, interleaved:")
    times = measure(runs, args.repeats)
    measured = time.monotonic() - started
    load_after = os.getloadavg()

    print("measuring the worker's memory: the portal path in a fresh process per table, after a warm-up on the other")
    memories = {table: memory(args, table) for table in TABLES}
    if args.explain:
        explain(args.data_url)

    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"\n{server_settings(args.data_url)}")
    print(f"machine: {os.cpu_count()} CPUs; load average before {_load(load_before)}, after {_load(load_after)} "
          f"(other work on the machine inflates every time); {measured:.0f} s of measuring")  # fmt: skip
    print(f"\n{'run':28} {'median s':>9} {'min s':>7} {'max s':>7}  {'x raw':>6}")
    for label, values in times.items():
        table = label.split()[-1]
        ratio = medians[label] / medians[f"raw {table}"]
        print(f"{label:28} {medians[label]:9.3f} {min(values):7.3f} {max(values):7.3f}  {ratio:6.2f}")
    print()
    for table, info in memories.items():
        print(f"memory, portal on {table:10} ({sizes[table][0]:,} rows): RSS before the query "
              f"{info['rss_before_kib'] / 1024:.1f} MiB, peak during it {info['peak_rss_kib'] / 1024:.1f} MiB; "
              f"peak of Python allocations during it {info['traced_peak'] / 1024:.0f} KiB; process lifetime "
              f"peak RSS {info['lifetime_maxrss_kib'] / 1024:.1f} MiB")  # fmt: skip

    bounded = medians["portal people"] / medians["raw people"]
    one_row = medians["portal people_one"] / medians["raw people_one"]
    print(f"\nportal / raw with contribution bounding (k=5): {bounded:.2f}x, target <= {TARGET_BOUNDED}x: "
          f"{_verdict(bounded, TARGET_BOUNDED)}")  # fmt: skip
    print(f"portal / raw with one row per person (k=1):   {one_row:.2f}x, target <= {TARGET_ONE_ROW}x: "
          f"{_verdict(one_row, TARGET_ONE_ROW)}")  # fmt: skip
    if not args.no_smartnoise:
        for table in TABLES:
            ratio = medians[f"smartnoise {table}"] / medians[f"raw {table}"]
            print(f"smartnoise / raw on {table:10}: {ratio:.2f}x (reference: {SMARTNOISE_REFERENCE:.0f}x measured "
                  "elsewhere on such a table)")  # fmt: skip


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def _verdict(ratio: float, target: float) -> str:
    return "met" if ratio <= target else "MISSED"


if __name__ == "__main__":
    main()
