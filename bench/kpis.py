"""KPI dashboard latency on a year of usage events for 1,000 datasets, against a trivial page.

    .venv/bin/python bench/kpis.py                  # 1,000 datasets, a year of events (~600,000)
    .venv/bin/python bench/kpis.py --events 50000   # a smaller smoke run
    .venv/bin/python bench/kpis.py --reuse          # measure again, without reloading

It (re)creates its own PostgreSQL database (``portal_bench_kpis`` on 127.0.0.1:5432 unless
``--db-url`` says otherwise), migrates it, creates 10 domains of 100 datasets (10 products each) and
500 users who work in those domains, and COPYs a year of audit events into it (views, API reads,
queries, downloads; dataset popularity skewed like real catalogs, busier on weekdays). Then it rolls
the year up once, as the beat task would, and times the pages in this process with Django's test
client (DEBUG off, persistent connection): the server's whole request handling, interleaved with
``GET /accounts/login/`` (the trivial baseline). Today is rolled up again on read when older than
``PORTAL_USAGE_TODAY_REFRESH_SECONDS`` (60 s by default; ``--refresh-every-read`` sets it to 0, the
worst case). Prints p50/p95 per page and its ratio to the baseline.
"""

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ["sales", "marketing", "finance", "hr", "logistics", "support", "risk", "research", "web", "legal"]
DATASETS_PER_DOMAIN = 100
PRODUCTS_PER_DOMAIN = 10
USERS = 500
ACTIONS = [("dataset.view", 0.62), ("dataset.api_read", 0.18), ("query.submit", 0.12), ("query.download", 0.08)]


def _create_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(url: str, refresh_seconds: float) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("PORTAL_CREDENTIALS_KEY", "SGVsbG9CZW5jaEtleUhlbGxvQmVuY2hLZXlIZWxsbzE=")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")
    os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")  # plain HTTP in this process
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.PORTAL_USAGE_TODAY_REFRESH_SECONDS = refresh_seconds
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]


def _load(events: int, seed: int) -> None:
    import numpy as np
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import User
    from apps.catalog.models import DataProduct, Dataset
    from apps.domains.models import Domain

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(seed)
    admin = User.objects.create_superuser("admin", "admin@example.org", "bench-password")
    users = User.objects.bulk_create([User(username=f"user{i}", email=f"user{i}@example.org") for i in range(USERS)])
    domains = [Domain.objects.create(slug=slug, name=slug.title()) for slug in DOMAINS]
    for index, domain in enumerate(domains):
        domain.owners.add(users[index])
        domain.members.add(*users[index::len(domains)])
    products, datasets = [], []
    for domain in domains:
        for p in range(PRODUCTS_PER_DOMAIN):
            products.append(DataProduct(domain=domain, slug=f"product{p}", name=f"{domain.name} product {p}",
                                        freshness_expectation=dt.timedelta(days=1 + p)))
    products = DataProduct.objects.bulk_create(products)
    for product in products:
        for t in range(DATASETS_PER_DOMAIN // PRODUCTS_PER_DOMAIN):
            table = f"{product.slug}_table{t}"
            datasets.append(Dataset(
                domain=product.domain, product=product, address=f"{product.domain.slug}.db.{table}", name=table,
                table_name=table, search_text=table,
                data_updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=int(rng.integers(1, 24 * 30))),
            ))  # fmt: skip
    datasets = Dataset.objects.bulk_create(datasets)
    dataset_ids = np.array([d.pk for d in datasets])
    dataset_domains = np.array([d.domain_id for d in datasets])
    user_ids = np.array([u.pk for u in users])

    # A year, busier on weekdays; datasets by a Zipf-like popularity; users by activity.
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=365)
    seconds = rng.uniform(0, 365 * 86400 - 60, size=events * 2)
    weekday = ((start.timestamp() + seconds) // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    seconds = seconds[(weekday < 5) | (rng.random(seconds.size) < 0.35)][:events]
    count = seconds.size
    popularity = 1.0 / np.arange(1, dataset_ids.size + 1) ** 0.9
    which = rng.choice(dataset_ids.size, size=count, p=popularity / popularity.sum())
    activity = 1.0 / np.arange(1, user_ids.size + 1) ** 0.7
    who = rng.choice(user_ids, size=count, p=activity / activity.sum())
    names, weights = zip(*ACTIONS, strict=True)
    what = rng.choice(len(names), size=count, p=np.array(weights) / sum(weights))
    buffer = io.StringIO()
    for i in range(count):
        when = (start + dt.timedelta(seconds=float(seconds[i]))).isoformat()
        d = int(which[i])
        buffer.write(
            f"{when}\t{int(who[i])}\t{names[what[i]]}\tcatalog.dataset\t{int(dataset_ids[d])}\tbench\tsuccess\t"
            f"bench-{i}\t{{}}\t{int(dataset_domains[d])}\t{int(dataset_ids[d])}\n"
        )
    buffer.seek(0)
    columns = ("occurred_at", "actor_id", "action", "object_type", "object_id", "object_repr", "outcome",
               "request_id", "details", "domain_id", "dataset_id")
    with connection.cursor() as cursor:
        with cursor.connection.cursor().copy(f"COPY usage_auditevent ({', '.join(columns)}) FROM STDIN") as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        cursor.execute("ANALYZE")
    print(f"loaded {count:,} events on {dataset_ids.size:,} datasets by {USERS} users over 365 days "
          f"(admin {admin.username})")


def _rollup() -> None:
    from django.db import connection

    from apps.usage.models import UsageRolledDay
    from apps.usage.rollup import usage_rollup

    UsageRolledDay.objects.all().delete()  # --rollup-again: the whole year, from scratch
    started = time.perf_counter()
    result = usage_rollup()
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_usageday")
        cursor.execute("ANALYZE usage_usagelastseen")
        cursor.execute("SELECT count(*) FROM usage_usageday")
        days = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM usage_usagelastseen")
        seen = cursor.fetchone()[0]
    print(f"rolled up {result['days']} days into {days:,} day rows and {seen:,} last-seen rows in {elapsed:.1f} s "
          "(once, as the beat task does)")


def _measure(rounds: int) -> None:
    from django.test import Client

    from apps.accounts.models import User
    from apps.catalog.models import Dataset

    admin = User.objects.get(username="admin")
    owner = User.objects.get(username="user0")  # owns the first domain
    dataset = Dataset.objects.filter(domain__slug=DOMAINS[0]).order_by("pk").first()
    product = dataset.product
    client, owner_client, anonymous = Client(), Client(), Client()
    client.force_login(admin)
    owner_client.force_login(owner)
    pages = {
        "trivial: GET /accounts/login/": (anonymous, "/accounts/login/"),
        "domain KPIs, 90 days (owner)": (owner_client, f"/usage/d/{DOMAINS[0]}/?days=90"),
        "domain KPIs, 365 days (owner)": (owner_client, f"/usage/d/{DOMAINS[0]}/?days=365"),
        "product KPIs, 90 days": (client, f"/usage/d/{DOMAINS[0]}/{product.slug}/?days=90"),
        "dataset KPIs, 90 days": (client, f"/usage/datasets/{dataset.address}/?days=90"),
        "dataset KPIs, 365 days": (client, f"/usage/datasets/{dataset.address}/?days=365"),
        "domain KPIs CSV, 365 days": (owner_client, f"/usage/d/{DOMAINS[0]}/export.csv?days=365"),
        "audit trail page (admin)": (client, "/usage/audit/"),
    }
    for who, url in pages.values():  # warm up: imports, templates, the first catch-up of today
        assert who.get(url).status_code == 200, url
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(rounds):
        for name, (who, url) in pages.items():
            started = time.perf_counter()
            response = who.get(url)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    base = statistics.median(times["trivial: GET /accounts/login/"])
    base95 = statistics.quantiles(times["trivial: GET /accounts/login/"], n=20)[18]
    print(f"\n{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10} {'p95 ratio':>10}")
    for name, values in times.items():
        p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[18]
        print(f"{name:36} {p50:8.1f} {p95:8.1f} {p50 / base:9.1f}x {p95 / base95:9.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/portal_bench_kpis")
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--reuse", action="store_true", help="measure the existing bench database again")
    parser.add_argument("--rollup-again", action="store_true", help="with --reuse: roll the whole year up again")
    parser.add_argument("--refresh-every-read", action="store_true", help="roll today up again on every read")
    args = parser.parse_args()
    if not args.reuse:
        _create_database(args.db_url)
    _setup_django(args.db_url, 0 if args.refresh_every_read else 60)
    if not args.reuse:
        started = time.perf_counter()
        _load(args.events, args.seed)
        print(f"loading took {time.perf_counter() - started:.0f} s")
        _rollup()
    elif args.rollup_again:
        _rollup()
    _measure(args.rounds)


if __name__ == "__main__":
    main()
