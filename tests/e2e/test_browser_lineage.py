"""In a real browser: bob opens the lineage of orders at one hop, widens it to two, highlights the
path from the raw feed to the report, expands and collapses a node; on the dataset page the panel
draws the same graph."""

from collections.abc import Callable
from itertools import pairwise

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.lineage.models import Edge, Job, LineageNode
from tests.conftest import PASSWORD
from tests.factories import DatasetFactory, DomainFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NODES = "el => el.lineage.cy.nodes().length"


@pytest.fixture
def chain(bob: User) -> list[Dataset]:
    sales = DomainFactory(slug="sales", name="Sales")
    job = Job.objects.create(namespace="jobs", name="nightly")
    datasets = [DatasetFactory(domain=sales, table_name=name, address=f"sales.shop.{name}")
                for name in ("raw", "orders", "regional", "report")]
    nodes = [LineageNode.objects.create(dataset=dataset) for dataset in datasets]
    for source, target in pairwise(nodes):
        Edge.objects.create(source=source, target=target, job=job)
    return datasets


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_a_lineage_graph_opens_at_one_hop_expands_to_two_and_highlights_a_path(
    live_server, new_page: Callable[[], Page], chain: list[Dataset]
) -> None:
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # No script error and no CSP violation (Cytoscape's injected <style> would be one).
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "favicon" not in str(message.location) else None)
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/lineage/datasets/sales.shop.orders/")

    explorer = page.locator("#lineage-page")
    expect(explorer.locator(".lineage-canvas canvas").first).to_be_attached()
    rows = explorer.locator("table.lineage-edges tbody tr")
    expect(rows).to_have_count(2)
    assert explorer.evaluate(NODES) == 3  # raw → orders → regional

    page.get_by_label("Downstream hops").select_option("2")
    expect(rows).to_have_count(3)
    expect(explorer.locator("table.lineage-edges")).to_contain_text("sales.shop.report")
    assert explorer.evaluate(NODES) == 4
    assert "down=2" in page.url

    page.get_by_label("From", exact=True).select_option(label="sales.shop.raw")
    page.get_by_label("To", exact=True).select_option(label="sales.shop.report")
    page.get_by_role("button", name="Highlight path").click()
    status = explorer.locator(".lineage-status")
    expect(status).to_have_text("Path: sales.shop.raw → sales.shop.orders → sales.shop.regional → sales.shop.report")
    expect(explorer.locator("table.lineage-edges tbody tr.on-path")).to_have_count(3)
    assert explorer.evaluate("el => el.lineage.cy.edges('.on-path').length") == 3

    # Back to one hop, then expand the regional node by hand and collapse it again.
    page.get_by_label("Downstream hops").select_option("1")
    expect(rows).to_have_count(2)
    page.get_by_label("Node", exact=True).select_option(label="sales.shop.regional")
    page.get_by_role("button", name="Expand").click()
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="Collapse").click()
    expect(rows).to_have_count(2)
    expect(status).to_have_text("Collapsed 1 node(s).")
    page.screenshot(path="/tmp/lineage_page.png", full_page=True)

    page.goto(f"{live_server.url}/datasets/sales.shop.regional/")
    panel = page.locator("#lineage-panel")
    expect(panel.locator(".lineage-canvas canvas").first).to_be_attached()
    expect(panel.locator("table.lineage-edges tbody tr")).to_have_count(2)
    assert errors == []
