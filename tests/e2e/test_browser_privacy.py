"""In a real browser: bob asks for access to the adult census with a reason, alice approves it with
a budget of her choosing, and bob then sees that budget on his own page."""

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Domain
from apps.privacy.accountant import budget_commit, budget_reserve
from apps.privacy.composition import PrivacyCost
from apps.privacy.models import AccessRequest, LedgerEntry, Policy
from apps.privacy.services import dataset_budget_set, policy_save
from tests.conftest import PASSWORD
from tests.factories import ColumnFactory, DatasetFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp")
ADULT = "hr.census.adult"


@pytest.fixture
def adult(hr: Domain, alice: User, bob: User) -> Dataset:
    dataset = DatasetFactory(domain=hr, table_name="adult", name="Adult census", address=ADULT)
    ColumnFactory(dataset=dataset, name="age")
    dataset_budget_set(actor=alice, dataset=dataset, epsilon_limit="10", delta_limit="0.00001")
    return dataset


# Tables wider than their scrolling wrapper, and anything else wider than the window.
OVERFLOW = """() => [
  ...[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth)
     .map(w => w.querySelector('table').className),
  ...[...document.querySelectorAll('body *')]
     .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth)
     .map(e => e.tagName + '.' + e.className),
]"""


def overflow(page: Page) -> list[str]:
    return page.evaluate(OVERFLOW)


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Data mesh catalog")).to_be_visible()


def test_alice_approves_bob_s_access_request_and_sets_his_budget_and_bob_sees_it(
    live_server, new_page: Callable[[], Page], adult: Dataset, bob: User
) -> None:
    base = live_server.url

    bob_page = new_page()
    log_in(bob_page, base, "bob")
    bob_page.goto(f"{base}/datasets/{ADULT}/")
    panel = bob_page.locator("#privacy-panel")
    expect(panel).to_contain_text("You have no access to this dataset yet.")
    bob_page.screenshot(path=str(SCREENSHOTS / "h7_dataset_panel_bob.png"), full_page=True)
    panel.get_by_role("link", name="Request access").click()
    expect(bob_page.get_by_role("heading", level=1)).to_have_text("Ask for access to Adult census")
    bob_page.get_by_label("Epsilon budget").fill("1")
    bob_page.get_by_label("Reason").fill("Gender pay gap study for the annual report.")
    bob_page.screenshot(path=str(SCREENSHOTS / "h7_request_form_bob.png"), full_page=True)
    bob_page.get_by_role("button", name="Send the request").click()
    expect(bob_page.get_by_text("Your request was sent to the owners of hr.census.adult.")).to_be_visible()
    expect(bob_page.locator("h1 .state")).to_have_text("Pending")
    request = AccessRequest.objects.get(requester=bob, dataset=adult)
    assert request.reason == "Gender pay gap study for the annual report."

    alice_page = new_page()
    log_in(alice_page, base, "alice")
    alice_page.goto(f"{base}/privacy/requests/")
    alice_page.screenshot(path=str(SCREENSHOTS / "h7_requests_alice.png"), full_page=True)
    alice_page.locator(f"#request-{request.pk}").get_by_role("link", name=f"#{request.pk}").click()
    expect(alice_page.get_by_text("Gender pay gap study for the annual report.")).to_be_visible()
    epsilon = alice_page.get_by_label("Epsilon budget")
    expect(epsilon).to_have_value("1")
    epsilon.fill("2")
    alice_page.get_by_label("Comment").fill("Approved for this year's report.")
    alice_page.screenshot(path=str(SCREENSHOTS / "h7_decision_alice.png"), full_page=True)
    alice_page.get_by_role("button", name="Approve").click()
    expect(alice_page.get_by_text("Approved the request of bob on hr.census.adult.")).to_be_visible()
    expect(alice_page.locator("h1 .state")).to_have_text("Approved")
    assert Policy.objects.get(user=bob, dataset=adult).epsilon_budget == Decimal(2)

    alice_page.goto(f"{base}/privacy/datasets/{ADULT}/")
    expect(alice_page.locator("#account-bob")).to_contain_text("2")
    assert overflow(alice_page) == [], "the editor is wider than the window"
    alice_page.screenshot(path=str(SCREENSHOTS / "h7_editor_alice.png"), full_page=True)

    bob_again = new_page()
    log_in(bob_again, base, "bob")
    bob_again.goto(f"{base}/privacy/me/")
    grant = bob_again.locator("table.grants tbody tr").filter(has_text=ADULT)
    expect(grant.locator("td.budget")).to_have_text("2")
    expect(grant.locator("td.remaining")).to_have_text("2")
    expect(bob_again.locator("table.requests")).to_contain_text("Approved")
    assert overflow(bob_again) == [], "bob's page is wider than the window"
    bob_again.screenshot(path=str(SCREENSHOTS / "h7_me_bob.png"), full_page=True)


def test_alice_edits_a_policy_in_place_and_sees_the_refusal_of_a_negative_budget(
    live_server, new_page: Callable[[], Page], adult: Dataset, alice: User, bob: User
) -> None:
    policy = policy_save(actor=alice, scope=adult, user=bob, epsilon_budget="1")
    for day, epsilon in (("2030-03-01", "0.25"), ("2030-03-04", "0.5")):
        cost = PrivacyCost(epsilon=Decimal(epsilon))
        entry = budget_reserve(actor=bob, dataset=adult, cost=cost, mechanism="laplace")
        budget_commit(reservation=entry)
        LedgerEntry.objects.filter(dataset=adult, epsilon=Decimal(epsilon)).update(
            created_at=datetime.fromisoformat(f"{day}T12:00:00+00:00")
        )
    page = new_page()
    page.emulate_media(reduced_motion="reduce")  # no animation: the screenshot shows the final chart
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/privacy/datasets/{ADULT}/")
    expect(page.locator("#spending-chart[data-drawn]")).to_be_attached()
    expect(page.locator("details.chart-table")).not_to_have_attribute("open", "")
    page.locator("details.chart-table summary").click()
    expect(page.locator("table.spending-table tbody tr").last).to_contain_text("0.75")
    page.screenshot(path=str(SCREENSHOTS / "h7_editor_chart_alice.png"), full_page=True)
    row = page.locator(f"#policy-{policy.pk}")
    row.get_by_role("link", name="Edit the policy of bob").click()
    expect(row.get_by_label("Access mode")).to_be_focused()
    row.get_by_label("Epsilon budget").fill("-1")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("alert")).to_have_text("epsilon_budget must be at least zero.")
    page.screenshot(path=str(SCREENSHOTS / "h7_editor_error_alice.png"), full_page=True)
    policy.refresh_from_db()
    assert policy.epsilon_budget == 1

    row.get_by_label("Epsilon budget").fill("3")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#policies [role=status]")).to_have_text("Saved the policy of bob.")
    expect(page.locator(f"#policy-{policy.pk} td.num").first).to_have_text("3")
    policy.refresh_from_db()
    assert policy.epsilon_budget == 3
    assert re.search(r"/privacy/datasets/", page.url)

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#dataset-budget")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "h7_editor_alice_mobile.png"), full_page=True)
