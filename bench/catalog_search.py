"""Catalog search latency over HTTP, against a trivial view in the same run.

    .venv/bin/python bench/catalog_search.py                 # 100,000 datasets, 1,000,000 columns
    .venv/bin/python bench/catalog_search.py --quick         # 10,000 datasets, a smoke check
    .venv/bin/python bench/catalog_search.py --reuse         # measure again, without reloading

It (re)creates its own PostgreSQL database (``portal_bench_search`` on 127.0.0.1:5432 unless
``--db-url`` says otherwise), migrates it, bulk-loads the catalog with COPY, builds ``search_text``
with the same function the portal uses, ANALYZEs, then starts gunicorn (2 workers, DEBUG off,
persistent database connections) on a free loopback port. Requests alternate between the search API
(as a non-admin user with a token, so visibility filtering is part of every query) and
``GET /accounts/login/`` (the baseline: a trivial view). Server time is gunicorn's own request
time (``%(D)s`` in its access log), matched to each request by a ``_bench`` parameter.
"""

import argparse
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0

DOMAINS = [
    "sales", "marketing", "finance", "hr", "logistics", "procurement", "support", "billing", "crm", "web",
    "mobile", "payments", "risk", "fraud", "compliance", "legal", "inventory", "warehouse", "shipping", "returns",
    "pricing", "catalog", "search", "ads", "growth", "product", "research", "clinical", "pharmacy", "insurance",
    "claims", "lending", "treasury", "tax", "audit", "security", "identity", "network", "devices", "energy",
    "facilities", "fleet", "travel", "events", "education", "content", "media", "partners", "suppliers", "census",
]  # fmt: skip
ENTITIES = [
    "customer", "order", "invoice", "payment", "shipment", "product", "supplier", "employee", "patient", "claim",
    "policy", "account", "transaction", "session", "campaign", "lead", "ticket", "contract", "device", "sensor",
    "store", "region", "price", "refund", "subscription", "visit", "prescription", "loan", "asset", "vendor",
    "user", "household", "person", "address", "trip", "booking", "review", "survey", "course", "enrollment",
    "adult", "income", "salary", "churn", "stock", "return", "delivery", "warehouse", "route", "click",
]  # fmt: skip
QUALIFIERS = [
    "daily", "monthly", "weekly", "yearly", "history", "snapshot", "current", "staging", "summary", "detail",
    "events", "facts", "dim", "raw", "clean", "aggregated", "forecast", "actuals", "budget", "archive",
    "latest", "by_region", "by_channel", "by_product", "extract", "sample", "metrics", "kpis", "log", "audit",
]  # fmt: skip
TAGS = [
    *ENTITIES, *[q for q in QUALIFIERS if "_" not in q], "pii", "gdpr", "finance", "ml", "gold", "silver", "bronze",
    "certified", "deprecated", "experimental", "realtime", "batch", "external", "internal", "quarterly", "kpi",
    "reference", "master-data", "timeseries", "geo", "sensitive", "public", "partner", "legacy", "core",
]  # fmt: skip
COLUMNS = [
    ("id", "integer"), ("customer_id", "integer"), ("order_id", "integer"), ("created_at", "datetime"),
    ("updated_at", "datetime"), ("amount", "float"), ("currency", "string"), ("email", "string"),
    ("first_name", "string"), ("last_name", "string"), ("birth_date", "date"), ("country", "string"),
    ("region", "string"), ("city", "string"), ("postal_code", "string"), ("status", "string"),
    ("quantity", "integer"), ("unit_price", "float"), ("discount", "float"), ("channel", "string"),
    ("product_id", "integer"), ("category", "string"), ("score", "float"), ("age", "integer"),
    ("income", "integer"), ("gender", "string"), ("is_active", "boolean"), ("event_type", "string"),
    ("session_id", "string"), ("device_type", "string"), ("revenue", "float"), ("cost", "float"),
    ("margin", "float"), ("employee_id", "integer"), ("department", "string"), ("salary", "integer"),
    ("diagnosis_code", "string"), ("claim_amount", "float"), ("policy_id", "integer"), ("latitude", "float"),
    ("longitude", "float"), ("phone_number", "string"), ("ip_address", "string"), ("churn_flag", "boolean"),
    ("tenure_months", "integer"), ("invoice_number", "string"), ("due_date", "date"), ("paid_at", "datetime"),
]  # fmt: skip
SENTENCES = [
    "One row per {e} and {q} period, loaded every night from the {d} source systems.",
    "{E} {q} figures used by the {d} team for reporting and planning.",
    "Cleaned {e} records with duplicates removed and {e2} references resolved.",
    "Aggregated {e} metrics by region and channel; see the {d} wiki for definitions.",
    "Source of truth for {e} data in {d}; owners review it every quarter.",
    "Derived from the {e2} table; contains {q} revenue, cost and margin.",
    "Historical {e} snapshot kept for audit and regulatory reporting.",
    "Feature table for the {e} churn prediction model.",
]
COLUMN_NOTES = [
    "", "", "", "Primary key.", "When the row was created.", "In the account currency.", "ISO 3166 country code.",
    "Hashed before loading.", "As reported by the source.", "Null when unknown.", "Free text, may contain typos.",
]  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="10,000 datasets and 100,000 columns")
    parser.add_argument("--rounds", type=int, default=40, help="measured rounds over all queries")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/portal_bench_search")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every query")
    parser.add_argument("--reuse", action="store_true", help="measure the database a previous run filled")
    args = parser.parse_args()
    if args.quick:
        args.datasets, args.columns = 10_000, 100_000
    return args


def setup_django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
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


def recreate_database(db_url: str) -> None:
    import psycopg

    parts = urlsplit(db_url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing odd database name {name!r}")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


class Copier:
    """COPY rows into a model's table: every concrete field, defaults taken from a prototype object."""

    def __init__(self, model: Any, prototype: Any, varying: list[str]) -> None:
        from django.db import connection

        self.fields = [f for f in model._meta.concrete_fields]
        for field in self.fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                field.pre_save(prototype, True)
        self.base = [
            None if f.primary_key else f.get_db_prep_save(getattr(prototype, f.attname), connection)
            for f in self.fields
        ]
        self.index = {f.attname: i for i, f in enumerate(self.fields)}
        self.varying = [self.index[name] for name in varying]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"

    def copy(self, rows: Iterator[tuple[Any, ...]]) -> int:
        from django.db import connection

        count = 0
        with connection.cursor() as cursor, cursor.cursor.copy(self.sql) as copy:
            for values in rows:
                row = list(self.base)
                for position, value in zip(self.varying, values, strict=True):
                    row[position] = value
                copy.write_row(row)
                count += 1
        return count


def fill(datasets: int, columns: int) -> dict[str, Any]:
    from django.contrib.auth.models import Group
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from apps.accounts.models import User
    from apps.catalog.models import Column, DataProduct, Dataset, Tag
    from apps.catalog.search_index import search_text_from_parts
    from apps.domains.models import Backend, Domain, Sensitivity

    rng = random.Random(20251121)
    groups = [Group.objects.create(name=f"team-{n}") for n in range(5)]
    analyst = User.objects.create_user(username="bench-analyst")  # signs in with a token only
    analyst.groups.add(groups[0], groups[1])
    owners = [User.objects.create_user(username=f"owner{n:02d}") for n in range(30)]
    tags = [Tag.objects.create(name=name) for name in dict.fromkeys(TAGS)]

    domains, backends, products = [], [], []
    for n, slug in enumerate(DOMAINS):
        sensitivity = Sensitivity.CONFIDENTIAL if n % 4 == 3 else Sensitivity.OPEN
        domain = Domain.objects.create(slug=slug, name=slug.title(), sensitivity=sensitivity)
        domain.owners.add(owners[n % 30], *([owners[(n * 7) % 30]] if n % 3 == 0 else []))
        if n % 10 == 1:
            domain.visible_to_groups.add(groups[0])  # the analyst's group
        elif n % 10 == 6:
            domain.visible_to_groups.add(groups[3])  # hidden from the analyst
        domains.append(domain)
        backends.append(Backend.objects.create(domain=domain, slug="warehouse", kind="postgresql", url="bench"))
        for p in range(40):
            product = DataProduct(domain=domain, slug=f"{ENTITIES[(n + p) % 50]}-{p}", name="")
            product.name = f"{ENTITIES[(n + p) % 50].title()} {QUALIFIERS[p % 30].replace('_', ' ')} product {p}"
            products.append(product)
    products = DataProduct.objects.bulk_create(products)
    product_owners = DataProduct.owners.through
    product_owners.objects.bulk_create(
        [product_owners(dataproduct_id=p.pk, user_id=owners[i % 30].pk) for i, p in enumerate(products) if i % 2]
    )

    started = time.monotonic()
    with connection.cursor() as cursor:
        # Building the search indexes once after the load is much faster than updating them per row.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'catalog_dataset'"
            " AND indexname LIKE 'catalog_dataset_search%%'"
        )
        search_indexes = cursor.fetchall()
        for index_name, _definition in search_indexes:
            cursor.execute(f'DROP INDEX "{index_name}"')
        cursor.execute("SET maintenance_work_mem = '512MB'")

    per_dataset = max(1, columns // datasets)
    dataset_rows, column_rows, tag_rows = [], [], []
    column_id = 0
    for pk in range(1, datasets + 1):
        d = (pk * 7) % len(domains)
        domain = domains[d]
        entity, entity2 = ENTITIES[rng.randrange(50)], ENTITIES[rng.randrange(50)]
        qualifier = QUALIFIERS[rng.randrange(30)]
        table = f"{entity}_{qualifier}_{pk}"
        address = f"{domain.slug}.warehouse.{table}"
        name = f"{entity.title()} {qualifier.replace('_', ' ')} {pk}"
        words = {"e": entity, "E": entity.title(), "e2": entity2, "q": qualifier.replace("_", " "), "d": domain.slug}
        description = " ".join(s.format(**words) for s in rng.sample(SENTENCES, 2))
        product = products[d * 40 + rng.randrange(40)]
        chosen_tags = rng.sample(tags, rng.randrange(1, 5))
        chosen_columns = rng.sample(COLUMNS, per_dataset) if per_dataset <= len(COLUMNS) else COLUMNS
        named_columns = [(c, rng.choice(COLUMN_NOTES)) for c, _ in chosen_columns]
        text = search_text_from_parts(
            address=address, name=name, table_name=table, description=description,
            tags=[t.name for t in chosen_tags], product_name=product.name, columns=named_columns,
        )  # fmt: skip
        open_in_confidential = domain.sensitivity == Sensitivity.CONFIDENTIAL or pk % 10 == 0
        sensitivity = Sensitivity.CONFIDENTIAL if open_in_confidential else Sensitivity.OPEN
        dataset_rows.append((pk, domain.pk, product.pk, backends[d].pk, address, name, table, description,
                             sensitivity, text))  # fmt: skip
        tag_rows.extend((pk, t.pk) for t in chosen_tags)
        for position, ((column, logical), (_, note)) in enumerate(zip(chosen_columns, named_columns, strict=True)):
            column_id += 1
            column_rows.append((column_id, pk, column, position, logical.upper(), logical, note))

    copier = Copier(Dataset, Dataset(), ["id", "domain_id", "product_id", "backend_id", "address", "name",
                                         "table_name", "description", "sensitivity", "search_text"])  # fmt: skip
    copier.copy(iter(dataset_rows))
    Copier(Column, Column(), ["id", "dataset_id", "name", "position", "data_type", "logical_type", "description"]).copy(
        iter(column_rows)
    )
    through = Dataset.tags.through
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {through._meta.db_table} (dataset_id, tag_id) FROM STDIN") as copy:
            for row in tag_rows:
                copy.write_row(row)
        for table in (Dataset._meta.db_table, Column._meta.db_table):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        loaded = time.monotonic()
        for _index_name, definition in search_indexes:
            cursor.execute(definition)
        indexed = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
    print(
        f"loaded {len(dataset_rows):,} datasets, {len(column_rows):,} columns, {len(tag_rows):,} tag links "
        f"in {loaded - started:.0f} s; search indexes {indexed - loaded:.0f} s; "
        f"VACUUM ANALYZE {time.monotonic() - indexed:.0f} s"
    )
    visible = Dataset.objects.filter(domain__in=Domain.objects.exclude(visible_to_groups=groups[3])).count()
    return {
        "token": Token.objects.create(user=analyst).key,
        "visible": visible,
        "exact_address": dataset_rows[len(dataset_rows) // 2][4],
    }


def reused_facts() -> dict[str, Any]:
    from rest_framework.authtoken.models import Token

    from apps.catalog.models import Dataset
    from apps.catalog.selectors import dataset_list_for

    token = Token.objects.select_related("user").get(user__username="bench-analyst")
    addresses = Dataset.objects.order_by("id").values_list("address", flat=True)
    return {
        "token": token.key,
        "visible": dataset_list_for(user=token.user).count(),
        "exact_address": addresses[addresses.count() // 2],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, access_log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_CONN_MAX_AGE": "600", "DJANGO_DEBUG": "0", "PORTAL_LOG_LEVEL": "WARNING"}
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "portal.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}",
        "--access-logfile", str(access_log), "--access-logformat", "%(r)s %(s)s %(D)s", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if get(port, "/accounts/login/", {})[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer within 30 s")


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, float, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return response.status, elapsed, body


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _times(client: list[float], server_side: list[float]) -> str:
    return (
        f"{statistics.median(client):9.1f}ms {percentile(client, 0.95):5.1f}ms"
        f" {statistics.median(server_side):9.1f}ms {percentile(server_side, 0.95):5.1f}ms"
    )


def server_times(access_log: Path) -> dict[int, float]:
    times: dict[int, float] = {}
    for line in access_log.read_text().splitlines():
        marker = re.search(r"_bench=(\d+)\S* HTTP/[\d.]+ \d+ (\d+)$", line)
        if marker:
            times[int(marker.group(1))] = int(marker.group(2)) / 1000
    return times


def explain(queries: list[dict[str, Any]]) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.catalog.search import catalog_search

    analyst = get_user_model().objects.get(username="bench-analyst")
    for params in queries:
        kwargs = {"domains": [params["domain"]]} if "domain" in params else {}
        with CaptureQueriesContext(connection) as captured:
            catalog_search(user=analyst, query=params["q"], **kwargs)
        sql = next(q["sql"] for q in captured.captured_queries if "MATERIALIZED" in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        print(f"\n--- EXPLAIN ANALYZE q={params['q']!r} ---\n{plan}")


def main() -> None:
    args = parse_args()
    print(f"catalog search bench: {args.datasets:,} datasets, {args.columns:,} columns, database {args.db_url}")
    if not args.reuse:
        recreate_database(args.db_url)
    setup_django(args.db_url)
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, interactive=False)
    facts = reused_facts() if args.reuse else fill(args.datasets, args.columns)
    queries: list[dict[str, Any]] = [
        {"q": ""},
        {"q": "customer"},
        {"q": "cust"},
        {"q": "revenue monthly"},
        {"q": "adult"},
        {"q": "email address"},
        {"q": "churn prediction"},
        {"q": "invoice", "domain": "billing"},
        {"q": facts["exact_address"]},
        {"q": "no such thing"},
    ]
    if args.explain:
        explain(queries)
    connections.close_all()

    headers = {"Authorization": f"Token {facts['token']}", "Accept": "application/json"}
    access_log = Path(tempfile.mkdtemp(prefix="bench-search-")) / "access.log"
    port = free_port()
    server = start_server(port, access_log)
    sequence = 0
    samples: dict[str, list[tuple[int, float]]] = {}
    hits: dict[str, int] = {}

    def request(label: str, path: str, params: dict[str, Any], request_headers: dict[str, str]) -> None:
        nonlocal sequence
        sequence += 1
        status, elapsed, body = get(port, f"{path}?{urlencode({**params, '_bench': sequence}, doseq=True)}",
                                    request_headers)  # fmt: skip
        if status != 200:
            raise SystemExit(f"{label}: HTTP {status}: {body[:300]!r}")
        if path.startswith("/api/"):
            hits[label] = int(re.search(rb'"count":(\d+)', body).group(1))
        samples.setdefault(label, []).append((sequence, elapsed))

    try:
        for _warm_up in range(3):
            for params in queries:
                request(f"q={params['q']!r}", "/api/v1/search/", params, headers)
                request("baseline", "/accounts/login/", {}, {})
        samples.clear()
        started = time.monotonic()
        for _round in range(args.rounds):
            for params in queries:
                label = f"q={params['q']!r}" + (f" domain={params['domain']}" if "domain" in params else "")
                request(label, "/api/v1/search/", params, headers)
                request("baseline", "/accounts/login/", {}, {})
        measured = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    server_ms = server_times(access_log)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n{sequence} requests in {measured:.0f} s over HTTP to gunicorn (2 workers) on 127.0.0.1:{port}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other work on the machine inflates every time)")
    print(f"user bench-analyst (not an admin) sees {facts['visible']:,} of {args.datasets:,} datasets\n")
    print(f"{'request':48} {'matches':>8} {'client p50':>11} {'p95':>7} {'server p50':>11} {'p95':>7}")
    all_search_client: list[float] = []
    all_search_server: list[float] = []
    for label, rows in samples.items():
        client = [ms for _, ms in rows]
        server_side = [server_ms[seq] for seq, _ in rows if seq in server_ms]
        if label != "baseline":
            all_search_client += client
            all_search_server += server_side
        print(f"{label[:48]:48} {hits.get(label, ''):>8} {_times(client, server_side)}")
    baseline_client = [ms for _, ms in samples["baseline"]]
    baseline_server = [server_ms[seq] for seq, _ in samples["baseline"] if seq in server_ms]
    summary = {
        "search": (all_search_client, all_search_server),
        "baseline GET /accounts/login/": (baseline_client, baseline_server),
    }
    print()
    for label, (client, server_side) in summary.items():
        print(f"{'ALL ' + label:48} {'':>8} {_times(client, server_side)}")
    ratio_p50 = statistics.median(all_search_server) / statistics.median(baseline_server)
    ratio_p95 = percentile(all_search_server, 0.95) / percentile(baseline_server, 0.95)
    print(f"\nratio search / baseline (server time): p50 {ratio_p50:.1f}x, p95 {ratio_p95:.1f}x")
    p95 = percentile(all_search_server, 0.95)
    verdict = "met" if p95 <= TARGET_P95_MS else "MISSED"
    print(f"target: search p95 server time <= {TARGET_P95_MS:.0f} ms: {p95:.1f} ms, {verdict}")


if __name__ == "__main__":
    main()
