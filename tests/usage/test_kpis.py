"""KPIs per domain, product and dataset match events counted by hand; only owners and admins see them."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client

from apps.usage.models import UsageDay, UsageLastSeen
from apps.usage.rollup import usage_rollup
from tests.conftest import client_for
from tests.usage.conftest import event, spend

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(alice, bob, dave, adult, orders, marketing, admin_user):
    """By hand: on hr.census.adult, bob (marketing) views 3 times today and once 20 days ago, submits
    2 queries today (epsilon 0.5 spent) and downloads once 10 days ago; dave (sales) views twice 40
    days ago; alice (its owner) views once today. Not counted: bob's denied view, a search, and a
    view 200 days ago (outside 90 days). On sales.shop.orders: bob views once today."""
    for _ in range(3):
        event(bob, "dataset.view", adult)
    event(bob, "dataset.api_read", adult, days_ago=20)
    event(bob, "query.submit", adult)
    event(bob, "query.memo_hit", adult)
    spend(bob, adult, "0.5")
    event(bob, "query.download", adult, days_ago=10)
    event(dave, "dataset.view", adult, days_ago=40)
    event(dave, "dataset.view", adult, days_ago=40)
    event(alice, "dataset.view", adult)
    event(bob, "dataset.view", adult, outcome="denied")
    event(bob, "dataset.view", adult, days_ago=200)
    event(bob, "dataset.view", orders)


def kpis(client: Client, url: str, days: int = 90) -> dict:
    response = client.get(url, {"days": days})
    assert response.status_code == 200, response.content
    return response.json()


def test_dataset_kpis_equal_the_hand_counted_events(alice, usage):
    data = kpis(client_for(alice), "/api/v1/usage/datasets/hr.census.adult/")

    assert data["totals"] == {
        "views": 7, "users": 3, "queries": 2, "synth_jobs": 0, "downloads": 1, "epsilon": "0.5000000000",
    }
    assert data["consumers"] == {"total": 3, "active": 2, "inactive": 1}
    assert data["consuming_domains"] == [
        {"slug": "marketing", "name": "Marketing", "users": 1, "events": 7},
        {"slug": "sales", "name": "Sales", "users": 1, "events": 2},
    ]
    assert sum(day["views"] for day in data["trend"]) == 7 and len(data["trend"]) == 90
    assert data["trend"][-1] == {"day": data["end"], "views": 4, "users": 2, "queries": 2, "synth_jobs": 0,
                                 "downloads": 0, "epsilon": "0.5000000000"}


def test_a_shorter_period_counts_only_its_days(alice, usage):
    data = kpis(client_for(alice), "/api/v1/usage/datasets/hr.census.adult/", days=30)

    assert data["totals"]["views"] == 5 and data["totals"]["users"] == 2 and data["totals"]["downloads"] == 1
    assert data["consumers"] == {"total": 2, "active": 2, "inactive": 0}


def test_domain_and_product_kpis_add_up_their_datasets_and_rank_the_top_ones(admin_user, alice, usage):
    domain = kpis(client_for(alice), "/api/v1/usage/domains/hr/")
    product = kpis(client_for(alice), "/api/v1/usage/domains/hr/products/census/")
    sales = kpis(client_for(admin_user), "/api/v1/usage/domains/sales/")

    assert domain["totals"] == product["totals"]
    assert [t["address"] for t in domain["top_datasets"]] == ["hr.census.adult"]
    assert domain["top_datasets"][0]["events"] == 10
    assert sales["totals"]["views"] == 1 and sales["consuming_domains"][0]["slug"] == "marketing"


def test_a_year_counts_every_day_of_it(alice, usage):
    data = kpis(client_for(alice), "/api/v1/usage/domains/hr/", days=365)

    assert len(data["trend"]) == 365 and sum(day["views"] for day in data["trend"]) == 8
    assert data["totals"]["users"] == 3 and data["consumers"] == {"total": 3, "active": 2, "inactive": 1}


def test_the_dashboard_page_shows_the_numbers_and_the_chart_data(alice, usage):
    response = client_for(alice).get("/usage/datasets/hr.census.adult/")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-kpi="views">7<' in body and 'data-kpi="users">3<' in body and 'data-kpi="inactive">1<' in body
    assert 'id="usage-data"' in body and 'data-usage-chart="trend"' in body and "Marketing" in body
    assert "<script>" not in body and "onclick" not in body


def test_the_csv_export_lists_every_day_of_the_period(alice, usage):
    response = client_for(alice).get("/usage/d/hr/export.csv", {"days": 30})

    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["scope", "day", "views"] and len(rows) == 31
    assert sum(int(r[2]) for r in rows[1:]) == 5 and sum(Decimal(r[7]) for r in rows[1:]) == Decimal("0.5")


def test_rolling_up_again_never_counts_twice(alice, bob, adult, usage):
    usage_rollup()
    usage_rollup()
    before = kpis(client_for(alice), "/api/v1/usage/datasets/hr.census.adult/")["totals"]
    event(bob, "dataset.view", adult)

    after = kpis(client_for(alice), "/api/v1/usage/datasets/hr.census.adult/")["totals"]

    assert after["views"] == before["views"] + 1 == 8
    assert UsageDay.objects.filter(scope="dataset", scope_id=adult.pk, consumer_domain_id=0).count() == 5
    assert UsageLastSeen.objects.filter(scope="dataset", scope_id=adult.pk).count() == 3


@pytest.mark.parametrize(
    "url",
    [
        "/usage/d/hr/", "/usage/d/hr/export.csv", "/usage/d/hr/census/", "/usage/d/hr/census/export.csv",
        "/usage/datasets/hr.census.adult/", "/usage/datasets/hr.census.adult/export.csv",
        "/api/v1/usage/domains/hr/", "/api/v1/usage/domains/hr/products/census/",
        "/api/v1/usage/datasets/hr.census.adult/", "/usage/audit/", "/usage/audit/export.csv", "/api/v1/audit/",
        "/usage/d/nowhere/", "/usage/datasets/hr.census.nothing/",
    ],
)
def test_charlie_and_bob_the_analyst_get_404_on_every_usage_endpoint(bob, charlie, usage, url):
    assert client_for(charlie).get(url).status_code == 404
    assert client_for(bob).get(url).status_code == 404


def test_the_usage_index_lists_only_what_the_user_owns(alice, charlie, usage):
    assert "Human Resources" in client_for(alice).get("/usage/").content.decode()
    page = client_for(charlie).get("/usage/").content.decode()
    assert "Human Resources" not in page and "You own no domain" in page and "Audit trail" not in page


def test_a_product_owner_sees_the_product_and_its_datasets_but_not_the_domain(dave, census, usage):
    census.owners.add(dave)
    client = client_for(dave)

    assert client.get("/usage/d/hr/census/").status_code == 200
    assert client.get("/usage/datasets/hr.census.adult/").status_code == 200
    assert client.get("/usage/d/hr/").status_code == 404
