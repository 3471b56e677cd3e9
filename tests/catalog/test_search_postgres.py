"""The PostgreSQL path: the query the search runs is served by the GIN index of migration 0003."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog import search
from apps.catalog.models import Dataset
from apps.catalog.search import catalog_search
from apps.catalog.search_index import search_text_from_parts
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db

WORDS = ["orders", "customers", "revenue", "monthly", "invoice", "region", "product", "stock", "payment", "churn"]


def _fill(count: int) -> None:
    domain = DomainFactory(slug="bulk", name="Bulk")
    datasets = []
    for number in range(count):
        table = f"{WORDS[number % 10]}_{WORDS[number // 10 % 10]}_{number}"
        rare = " zebrafish" if number % 500 == 7 else ""
        text = search_text_from_parts(
            address=f"bulk.db.{table}",
            name=table,
            table_name=table,
            description=f"{WORDS[number % 7]} {WORDS[number % 3]} figures{rare}",
            columns=[(f"{WORDS[(number + k) % 10]}_id", "") for k in range(5)],
        )
        datasets.append(
            Dataset(domain=domain, address=f"bulk.db.{table}", name=table, table_name=table, search_text=text)
        )
    Dataset.objects.bulk_create(datasets, batch_size=1000)
    with connection.cursor() as cursor:
        # What autovacuum does in production: move the index's pending list into the index proper.
        cursor.execute("SELECT gin_clean_pending_list('catalog_dataset_search_gin'::regclass)")
        cursor.execute("ANALYZE catalog_dataset")


def test_the_search_runs_on_postgresql_and_uses_the_gin_index(bob):
    assert connection.vendor == "postgresql"
    _fill(4000)
    with CaptureQueriesContext(connection) as captured:
        result = catalog_search(user=bob, query="zebrafish")
    assert result.total == 8
    search_sql = next(q["sql"] for q in captured.captured_queries if "to_tsquery" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {search_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on catalog_dataset_search_gin" in plan, plan


def test_an_empty_query_takes_its_first_page_from_the_name_index(bob, monkeypatch):
    # A cap small against the table, as 2,000 is against a large catalog.
    monkeypatch.setattr(search, "CANDIDATE_CAP", 50)
    _fill(4000)
    with CaptureQueriesContext(connection) as captured:
        result = catalog_search(user=bob, query="")
    # More than CANDIDATE_CAP datasets: the total and the facets count the first ones by name.
    assert (result.total, result.total_is_lower_bound) == (50, True)
    assert [d.name for d in result.datasets] == sorted(d.name for d in result.datasets)
    page_sql = next(q["sql"] for q in captured.captured_queries if "MATERIALIZED" in q["sql"].upper())
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {page_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalog_dataset_search_name" in plan, plan
