"""The demo mesh: three domains with real backends, harvested and annotated by their owners.

- ``hr`` (confidential): the UCI Adult census table with a ``person_id``, in a SQLite file, or in a
  PostgreSQL database of its own when the portal runs on PostgreSQL.
- ``sales`` (open): 120,000 generated orders in a DuckDB file.
- ``marketing`` (open): regional sales per month, derived from sales, as Parquet files in a folder.

Loading is idempotent: files that exist are kept, catalog objects are created once, and what owners
declared is set again to the same values (which changes nothing).
"""

import csv
import gzip
import logging
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

from apps.accounts.models import User
from apps.catalog.demo_data.declarations import (
    ADULT_BOUNDS,
    ADULT_CATEGORIES,
    ADULT_COLUMNS,
    ADULT_DESCRIPTIONS,
    ADULT_INTEGER_COLUMNS,
    SALES_BOUNDS,
    SALES_CATEGORIES,
)
from apps.catalog.harvest_services import harvest_backend_now
from apps.catalog.models import Column, DataProduct, Dataset
from apps.catalog.services import column_update, dataset_update, domain_update, product_create
from apps.domains.models import Backend, Domain, Sensitivity
from apps.domains.services import backend_register

logger = logging.getLogger(__name__)

ADULT_CSV_GZ = Path(__file__).resolve().parent / "demo_data" / "adult.csv.gz"
ADULT_ROWS = 32_561
SALES_ROWS = 120_000
DEMO_USERNAMES = ("admin", "alice", "bob", "charlie")


@dataclass
class DemoReport:
    password: str | None
    created_users: list[str] = field(default_factory=list)
    harvests: dict[str, dict[str, Any]] = field(default_factory=dict)


def _adult_rows() -> list[tuple[Any, ...]]:
    with gzip.open(ADULT_CSV_GZ, "rt", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for person_id, record in enumerate(reader, start=1):
            values: list[Any] = [person_id]
            for name, csv_name in ADULT_COLUMNS:
                raw = record[csv_name].strip()
                if raw in ("", "?"):
                    values.append(None)
                elif name in ADULT_INTEGER_COLUMNS:
                    values.append(int(raw))
                else:
                    values.append(raw)
            rows.append(tuple(values))
    return rows


def _adult_ddl(integer_type: str, text_type: str) -> str:
    columns = ", ".join(
        f"{name} {integer_type if name in ADULT_INTEGER_COLUMNS else text_type}" for name, _ in ADULT_COLUMNS
    )
    return f"CREATE TABLE adult (person_id {integer_type} PRIMARY KEY, {columns})"


def build_hr_sqlite(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as db:
        db.execute(_adult_ddl("INTEGER", "TEXT"))
        placeholders = ", ".join("?" for _ in range(len(ADULT_COLUMNS) + 1))
        db.executemany(f"INSERT INTO adult VALUES ({placeholders})", _adult_rows())  # noqa: S608
    partial.rename(path)


def _postgres_server_kwargs() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or None,
    }


def build_hr_postgres(dbname: str) -> None:
    server = _postgres_server_kwargs()
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
    with psycopg.connect(dbname=dbname, **server) as db:
        present = db.execute("SELECT to_regclass('public.adult') IS NOT NULL").fetchone()
        if present and present[0]:
            return
        db.execute(_adult_ddl("integer", "text"))
        names = ", ".join(["person_id", *(name for name, _ in ADULT_COLUMNS)])
        with db.cursor().copy(f"COPY adult ({names}) FROM STDIN") as copy:
            for row in _adult_rows():
                copy.write_row(row)


def build_sales_duckdb(path: Path, rows: int = SALES_ROWS) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    regions = SALES_CATEGORIES["region"]
    channels = SALES_CATEGORIES["channel"]
    categories = SALES_CATEGORIES["product_category"]
    with duckdb.connect(str(partial)) as db:
        db.execute(
            """
            CREATE TABLE orders AS
            SELECT
                i AS order_id,
                1 + (hash(i, 'customer') % 25000)::BIGINT AS customer_id,
                DATE '2025-01-01' + ((hash(i, 'day') % 365)::INTEGER) AS order_date,
                ($regions)[1 + (hash(i, 'region') % 5)::INTEGER] AS region,
                ($channels)[1 + (hash(i, 'channel') % 4)::INTEGER] AS channel,
                ($categories)[1 + (hash(i, 'category') % 8)::INTEGER] AS product_category,
                1 + (hash(i, 'quantity') % 5)::INTEGER AS quantity,
                round(2 + (hash(i, 'price') % 20000) / 100.0, 2)::DECIMAL(10, 2) AS unit_price
            FROM range(1, $rows + 1) t(i)
            """,
            {"regions": regions, "channels": channels, "categories": categories, "rows": rows},
        )
        db.execute("ALTER TABLE orders ADD COLUMN amount DECIMAL(12, 2)")
        db.execute("UPDATE orders SET amount = quantity * unit_price")
    partial.rename(path)


def build_marketing_folder(folder: Path, sales_path: Path) -> None:
    target = folder / "regional_sales.parquet"
    if target.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as db:
        db.execute(f"ATTACH '{sales_path}' AS sales (READ_ONLY)")
        db.execute(
            f"""
            COPY (
                SELECT region, channel, date_trunc('month', order_date)::DATE AS month,
                       count(*) AS orders, sum(amount) AS revenue
                FROM sales.orders GROUP BY ALL ORDER BY month, region, channel
            ) TO '{target}' (FORMAT PARQUET)
            """  # noqa: S608 - paths come from settings, not from users
        )


def _ensure_users(password: str | None) -> tuple[dict[str, User], list[str], str | None]:
    created: list[str] = []
    users: dict[str, User] = {}
    for username in DEMO_USERNAMES:
        user, was_created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.org", "is_superuser": username == "admin",
                      "is_staff": username == "admin"},
        )
        if was_created:
            created.append(username)
        if was_created or password:
            password = password or secrets.token_urlsafe(9)
            user.set_password(password)
            user.save(update_fields=["password"])
        users[username] = user
    analysts, _ = Group.objects.get_or_create(name="analysts")
    users["bob"].groups.add(analysts)
    return users, created, password


def _ensure_domain(slug: str, name: str, sensitivity: str, owner: User, description: str) -> Domain:
    domain, _ = Domain.objects.get_or_create(
        slug=slug, defaults={"name": name, "sensitivity": sensitivity, "description": description}
    )
    domain.owners.add(owner)
    return domain


def _ensure_backend(*, actor: User, domain: Domain, slug: str, kind: str, url: str, password: str = "") -> Backend:
    existing = Backend.objects.filter(domain=domain, slug=slug).first()
    if existing is not None:
        return existing
    return backend_register(actor=actor, domain=domain, slug=slug, kind=kind, url=url, password=password)


def _ensure_product(*, actor: User, domain: Domain, slug: str, name: str, description: str, tags: list[str],
                    freshness_hours: int) -> DataProduct:
    existing = DataProduct.objects.filter(domain=domain, slug=slug).first()
    if existing is not None:
        return existing
    return product_create(actor=actor, domain=domain, slug=slug, name=name, description=description, tags=tags,
                          freshness_hours=freshness_hours)


def _declare_columns(actor: User, dataset: Dataset, bounds: dict[str, Any], categories: dict[str, list[str]],
                     descriptions: dict[str, str]) -> None:
    for column in Column.objects.filter(dataset=dataset, removed_at__isnull=True):
        changes: dict[str, Any] = {}
        if column.name in bounds:
            changes["lower_bound"], changes["upper_bound"] = bounds[column.name]
        if column.name in categories:
            changes["categories"] = categories[column.name]
        if column.name in descriptions and not column.description:
            changes["description"] = descriptions[column.name]
        if changes:
            column_update(actor=actor, column=column, **changes)


def _hr_backend_target(demo_dir: Path) -> tuple[str, str, str]:
    """(kind, url, password) of the HR backend: PostgreSQL when the portal runs on it, else SQLite."""
    if connection.vendor == "postgresql":
        dbname = f"{settings.DATABASES['default']['NAME']}_mesh_hr"
        build_hr_postgres(dbname)
        server = _postgres_server_kwargs()
        url = f"postgresql+psycopg://{server['user']}@{server['host']}:{server['port']}/{dbname}"
        return Backend.Kind.POSTGRESQL, url, server["password"] or ""
    path = demo_dir / "hr.sqlite3"
    build_hr_sqlite(path)
    return Backend.Kind.SQLITE, str(path), ""


def demo_mesh_load(*, password: str | None = None, demo_dir: Path | None = None) -> DemoReport:
    demo_dir = demo_dir or settings.PORTAL_DEMO_DIR
    users, created, used_password = _ensure_users(password)
    report = DemoReport(password=used_password if created or password else None, created_users=created)
    admin, alice = users["admin"], users["alice"]

    hr = _ensure_domain("hr", "Human Resources", Sensitivity.CONFIDENTIAL, alice,
                        "People data of the company. **Confidential**: only differentially private answers leave it.")
    domain_update(actor=admin, domain=hr, visible_to_groups=["analysts"])
    sales = _ensure_domain("sales", "Sales", Sensitivity.OPEN, admin, "Orders from every channel.")
    marketing = _ensure_domain("marketing", "Marketing", Sensitivity.OPEN, admin,
                               "Campaign performance, built on the sales domain's orders.")

    kind, url, backend_password = _hr_backend_target(demo_dir)
    census = _ensure_backend(actor=alice, domain=hr, slug="census", kind=kind, url=url, password=backend_password)
    sales_path = demo_dir / "sales.duckdb"
    build_sales_duckdb(sales_path)
    shop = _ensure_backend(actor=admin, domain=sales, slug="shop", kind=Backend.Kind.DUCKDB, url=str(sales_path))
    marketing_dir = demo_dir / "marketing"
    build_marketing_folder(marketing_dir, sales_path)
    campaigns = _ensure_backend(actor=admin, domain=marketing, slug="campaigns", kind=Backend.Kind.DUCKDB_FOLDER,
                                url=str(marketing_dir))

    for backend, actor in ((census, alice), (shop, admin), (campaigns, admin)):
        run = harvest_backend_now(actor=actor, backend=backend)
        report.harvests[str(backend)] = run.report

    workforce = _ensure_product(
        actor=alice, domain=hr, slug="census", name="Census workforce",
        description="The 1994 US census extract (UCI Adult) used for workforce planning.\n\n"
                    "Ask **differentially private** questions or download synthetic samples.",
        tags=["census", "people"], freshness_hours=24 * 365,
    )
    adult = Dataset.objects.get(address="hr.census.adult")
    dataset_update(actor=alice, dataset=adult, product=workforce, privacy_unit_column="person_id",
                   max_rows_per_unit=1, tags=["census", "people", "income"],
                   description=adult.description or "One row per person of the 1994 US census extract.")
    _declare_columns(alice, adult, ADULT_BOUNDS, ADULT_CATEGORIES, ADULT_DESCRIPTIONS)

    orders_product = _ensure_product(
        actor=admin, domain=sales, slug="orders", name="Orders",
        description="Every order of 2025, one row per order.", tags=["orders", "revenue"], freshness_hours=24,
    )
    orders = Dataset.objects.get(address="sales.shop.orders")
    dataset_update(actor=admin, dataset=orders, product=orders_product, tags=["orders", "revenue"],
                   privacy_unit_column="customer_id", max_rows_per_unit=50,
                   description=orders.description or "Orders placed on every channel in 2025.")
    _declare_columns(admin, orders, SALES_BOUNDS, SALES_CATEGORIES, {})

    performance = _ensure_product(
        actor=admin, domain=marketing, slug="regional-performance", name="Regional performance",
        description="Monthly orders and revenue per region and channel, derived from `sales.shop.orders`.",
        tags=["revenue", "kpi"], freshness_hours=24 * 31,
    )
    regional = Dataset.objects.get(address="marketing.campaigns.regional_sales")
    dataset_update(actor=admin, dataset=regional, product=performance, tags=["revenue", "kpi"],
                   description=regional.description or "Monthly revenue per region and channel.")
    _declare_columns(admin, regional, {}, {k: v for k, v in SALES_CATEGORIES.items() if k != "product_category"}, {})
    return report
