"""Freshness: harvests record when data changed; stale datasets are flagged on their page, in search
results and in the KPIs."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.catalog.harvest import apply_table
from apps.catalog.models import Dataset
from apps.domains.connectors import ColumnInfo, TableInfo
from apps.usage.freshness import freshness_of
from tests.conftest import client_for
from tests.factories import BackendFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale(adult, census) -> Dataset:
    census.freshness_expectation = dt.timedelta(days=1)
    census.save()
    Dataset.objects.filter(pk=adult.pk).update(data_updated_at=timezone.now() - dt.timedelta(days=3))
    adult.refresh_from_db()
    return adult


def test_a_dataset_older_than_its_products_expectation_is_flagged_stale(stale):
    assert freshness_of(stale).is_stale
    assert not freshness_of(stale, now=stale.data_updated_at + dt.timedelta(hours=2)).is_stale
    stale.product.freshness_expectation = None
    assert freshness_of(stale).status == ""


def test_the_stale_flag_shows_on_the_page_in_search_results_and_in_the_kpis(alice, bob, stale):
    page = client_for(bob).get("/datasets/hr.census.adult/").content.decode()
    results = client_for(bob).get("/search/", {"q": "adult"}).content.decode()
    kpis = client_for(alice).get("/usage/d/hr/").content.decode()
    api = client_for(alice).get("/api/v1/usage/domains/hr/").json()

    assert 'data-freshness="stale"' in page and "last updated 3 days ago; expected every 1 day" in page
    assert 'data-freshness="stale"' in results
    assert "Stale datasets" in kpis and "last updated 3 days ago" in kpis
    assert api["stale_datasets"] == ["hr.census.adult"]


def test_a_fresh_dataset_is_not_flagged(bob, stale):
    Dataset.objects.filter(pk=stale.pk).update(data_updated_at=timezone.now())

    assert 'data-freshness="stale"' not in client_for(bob).get("/search/", {"q": "adult"}).content.decode()


def test_a_harvest_sets_the_update_time_when_the_table_appears_or_changes_only(sales):
    backend = BackendFactory(domain=sales, slug="shop")
    table = TableInfo(schema="", name="orders", columns=[ColumnInfo(name="id", data_type="INTEGER", nullable=False)])
    first = timezone.now() - dt.timedelta(days=2)
    apply_table(backend=backend, table=table, default_schema="", row_count=10, now=first)
    orders = Dataset.objects.get(address="sales.shop.orders")
    assert orders.data_updated_at == first

    apply_table(backend=backend, table=table, default_schema="", row_count=10, now=first + dt.timedelta(days=1))
    orders.refresh_from_db()
    assert orders.data_updated_at == first

    later = first + dt.timedelta(days=2)
    apply_table(backend=backend, table=table, default_schema="", row_count=11, now=later)
    orders.refresh_from_db()
    assert orders.data_updated_at == later
