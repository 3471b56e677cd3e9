"""In a real browser: alice opens the usage dashboard of her HR domain and sees its charts drawn
(trend, consuming domains, top datasets) next to the same numbers as tables; the keyboard reaches
the period links and the CSV export."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import DataProductFactory, DatasetFactory, DomainFactory, GroupFactory, UserFactory
from tests.usage.conftest import event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_shows_charts(live_server, new_page, hr, alice, bob, settings):
    settings.PORTAL_USAGE_TODAY_REFRESH_SECONDS = 0
    census = DataProductFactory(domain=hr, slug="census", name="Census workforce")
    adult = DatasetFactory(domain=hr, product=census, table_name="adult", address="hr.census.adult")
    payroll = DatasetFactory(domain=hr, product=census, table_name="payroll", address="hr.census.payroll")
    DomainFactory(slug="marketing", name="Marketing").members.add(bob)
    dave = UserFactory(username="dave")
    dave.groups.add(GroupFactory(name="analysts"))
    for days_ago in (0, 0, 1, 3, 8, 20):
        event(bob, "dataset.view", adult, days_ago=days_ago)
    event(dave, "query.submit", payroll, days_ago=2)

    page = new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/usage/d/hr/?days=30")

    for chart in ("usage-trend", "usage-domains", "usage-top"):
        expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "true")
    drawn = page.evaluate("""() => [...document.querySelectorAll('canvas[data-usage-chart]')].map(c => {
        const chart = window.Chart.getChart(c);
        return [c.id, chart.config.type, chart.data.datasets[0].data.reduce((a, b) => a + b, 0)];
    })""")
    assert drawn == [["usage-trend", "line", 6], ["usage-domains", "bar", 6], ["usage-top", "bar", 7]]
    expect(page.locator('[data-kpi="views"]')).to_have_text("6")
    expect(page.get_by_role("row", name="Marketing 1 6")).to_be_visible()

    page.keyboard.press("Tab")
    page.locator(".usage-periods a").first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/usage/d/hr/?days=7")
    expect(page.locator("#usage-trend")).to_have_attribute("data-drawn", "true")
