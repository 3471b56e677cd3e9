"""The lineage pages and the panel on each dataset page, rendered by the server (no JS needed)."""

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Domain
from apps.lineage.models import Edge, Job, LineageNode
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.factories import DatasetFactory, DomainFactory


def link(source: Dataset, target: Dataset) -> None:
    Edge.objects.create(source=LineageNode.objects.get_or_create(dataset=source)[0],
                        target=LineageNode.objects.get_or_create(dataset=target)[0],
                        job=Job.objects.get_or_create(namespace="jobs", name="nightly")[0])


@pytest.fixture
def mesh(hr: Domain) -> dict[str, Dataset]:
    sales = DomainFactory(slug="sales", name="Sales")
    orders = DatasetFactory(domain=sales, table_name="orders", address="sales.shop.orders")
    regional = DatasetFactory(domain=sales, table_name="regional", address="sales.shop.regional")
    payroll = DatasetFactory(domain=hr, table_name="payroll", address="hr.census.payroll")
    link(orders, regional)
    link(payroll, orders)
    return {"orders": orders, "regional": regional, "payroll": payroll}


def test_the_dataset_page_shows_a_lineage_panel_with_the_edges_as_a_table(bob: User, mesh: dict) -> None:
    response = client_for(bob).get("/datasets/sales.shop.orders/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="lineage-title"' in page
    assert "lineage-edges" in page and 'href="/lineage/datasets/sales.shop.regional/"' in page
    assert "hr.census.payroll" in page  # bob may see HR
    assert "vendor/cytoscape.min.js" in page and "<script>" not in page


def test_charlie_sees_a_hidden_dataset_in_the_panel_never_its_name(charlie: User, mesh: dict) -> None:
    page = client_for(charlie).get("/datasets/sales.shop.orders/").content.decode()
    assert "hidden dataset" in page
    assert "payroll" not in page


def test_the_full_page_takes_depth_and_filters_as_a_plain_form(bob: User, mesh: dict) -> None:
    client = client_for(bob)
    one_hop = client.get("/lineage/datasets/sales.shop.regional/").content.decode()
    two_hops = client.get("/lineage/datasets/sales.shop.regional/", {"up": "2"}).content.decode()
    assert "hr.census.payroll" not in one_hop
    assert "hr.census.payroll" in two_hops
    assert '<option value="2" selected>' in two_hops
    filtered = client.get("/lineage/datasets/sales.shop.regional/", {"up": "2", "domain": "hr"}).content.decode()
    assert filtered.count('data-edge-id="') == 0  # orders is not in hr: no edge joins what is left


def test_a_bad_depth_on_the_page_is_a_400_that_names_it(bob: User, mesh: dict) -> None:
    response = client_for(bob).get("/lineage/datasets/sales.shop.orders/", {"up": "99"})
    assert response.status_code == 400
    assert "up" in response.content.decode()
    assert AuditEvent.objects.filter(outcome__in=["refused", "denied"]).count() == 1


def test_the_page_read_is_audited_once(bob: User, mesh: dict) -> None:
    client_for(bob).get("/lineage/datasets/sales.shop.orders/")
    assert AuditEvent.objects.filter(action="lineage.view", outcome="success").count() == 1


def test_charlie_gets_404_on_an_hr_dataset_s_lineage_page(charlie: User, mesh: dict) -> None:
    assert client_for(charlie).get("/lineage/datasets/hr.census.payroll/").status_code == 404


def test_the_index_lists_only_the_datasets_with_lineage_the_viewer_may_see(charlie: User, mesh: dict) -> None:
    DatasetFactory(domain=mesh["orders"].domain, table_name="lonely", address="sales.shop.lonely")
    page = client_for(charlie).get("/lineage/").content.decode()
    assert "sales.shop.orders" in page and "sales.shop.regional" in page
    assert "payroll" not in page and "lonely" not in page


def test_the_index_jumps_to_a_dataset(bob: User, mesh: dict) -> None:
    response = client_for(bob).get("/lineage/", {"dataset": "sales.shop.orders"})
    assert response.status_code == 302 and response["Location"] == "/lineage/datasets/sales.shop.orders/"


@pytest.mark.parametrize("wanted", ["../../admin", "sales/shop", "/"])
def test_the_index_shows_its_list_for_a_name_with_a_slash_instead_of_a_500(bob: User, mesh: dict, wanted: str) -> None:
    response = client_for(bob).get("/lineage/", {"dataset": wanted})
    assert response.status_code == 200 and "sales.shop.orders" in response.content.decode()


@pytest.mark.parametrize("path", ["/lineage/", "/lineage/datasets/sales.shop.orders/"])
def test_anonymous_visitors_are_sent_to_log_in(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
