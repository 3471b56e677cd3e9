"""In a real browser, with a real celery worker: bob writes a grouped DP query on the adult census,
watches its cost and accuracy preview, submits it, watches the job finish, reads the table and the
charts with their error bars, then asks the same question again and is told it was free."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Domain
from apps.privacy.models import LedgerEntry
from apps.privacy.services import policy_save
from apps.queries.models import QueryJob
from tests.conftest import PASSWORD
from tests.e2e.workers import celery_worker, flush_broker
from tests.queries.test_views import load_census

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp")
ADULT = "hr.census.adult"
GROUPED = "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex"


@pytest.fixture
def census(hr: Domain, alice: User, bob: User, tmp_path: Path) -> Dataset:
    dataset = load_census(domain=hr, owner=alice, path=tmp_path / "hr.sqlite3")
    policy_save(actor=alice, scope=dataset, user=bob, epsilon_budget="2", delta_budget="0.000001")
    return dataset


# Tables wider than their scrolling wrapper, and anything else wider than the window.
OVERFLOW = """() => [
  ...[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth)
     .map(w => w.querySelector('table').className),
  ...[...document.querySelectorAll('body *')]
     .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
     .map(e => e.tagName + '.' + e.className),
]"""


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Data mesh catalog")).to_be_visible()


def test_bob_asks_a_grouped_question_watches_it_run_sees_the_chart_and_asking_again_is_free(
    live_server, new_page: Callable[[], Page], census: Dataset, bob: User, tmp_path: Path
) -> None:
    base = live_server.url
    page = new_page()
    log_in(page, base, "bob")
    page.goto(f"{base}/datasets/{ADULT}/")
    page.get_by_role("link", name="Ask a DP question").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Ask a DP question of"))
    expect(page.locator("#budget-remaining")).to_have_text("2")

    # The amount field follows the mechanism.
    expect(page.get_by_label("Epsilon", exact=True)).to_be_visible()
    expect(page.get_by_label("Rho", exact=True)).to_be_hidden()
    page.get_by_label("Mechanism", exact=True).select_option("gaussian")
    expect(page.get_by_label("Rho", exact=True)).to_be_visible()
    expect(page.get_by_label("Epsilon", exact=True)).to_be_hidden()
    page.get_by_label("Mechanism", exact=True).select_option("laplace")

    preview = page.locator("#query-preview")
    page.get_by_label("SQL", exact=True).fill("SELECT * FROM adult")
    expect(preview.locator(".preview-refusal")).to_be_visible()
    page.get_by_label("SQL", exact=True).fill(GROUPED)
    expect(preview).to_contain_text("Would be allowed")
    expect(preview).to_contain_text("epsilon 0.5")
    expect(preview.locator("table.accuracy tbody tr")).not_to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "q4_editor_preview.png"), full_page=True)
    assert not LedgerEntry.objects.exists(), "the preview charged something"

    # Submitted before any worker runs: the page shows the queued job, then follows it by itself.
    flush_broker()
    page.get_by_role("button", name="Submit — spends budget").click()
    expect(page).to_have_url(re.compile(r"/queries/\d+/$"))
    expect(page.locator("#job-status")).to_have_text("Queued")
    expect(page.get_by_role("button", name="Cancel the query")).to_be_visible()
    expect(page.locator("#job-cost")).to_contain_text("reserved")
    page.screenshot(path=str(SCREENSHOTS / "q4_job_queued.png"), full_page=True)
    with celery_worker("queries", log_path=tmp_path / "worker.log"):
        expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=60_000)
        expect(page.get_by_role("button", name="Cancel the query")).to_have_count(0)
        expect(page.locator("canvas[data-drawn=true]")).to_have_count(2)
        table = page.locator("table.result-table")
        expect(table.locator("tbody th")).to_have_text(["Female", "Male"])
        expect(table.locator(".ci")).to_have_count(4)
        expect(page.locator("#job-cost")).to_contain_text("epsilon 0.5")
        expect(page.locator("#job-cost")).to_contain_text("charged")
        page.screenshot(path=str(SCREENSHOTS / "q4_job_result.png"), full_page=True)

        page.get_by_role("link", name="Edit and ask again").click()
        expect(page.get_by_label("SQL", exact=True)).to_have_value(GROUPED)
        expect(page.locator("#query-preview")).to_contain_text("Free: identical to an earlier query.")
        page.screenshot(path=str(SCREENSHOTS / "q4_editor_free.png"), full_page=True)
        page.get_by_role("button", name="Submit — spends budget").click()
        expect(page.locator("#job-status")).to_have_text("Succeeded")
        expect(page.locator("#job-cost")).to_contain_text("Free")
        expect(page.locator("#job-cost")).to_contain_text("nothing was charged")
        expect(page.get_by_text("This answer is free")).to_be_visible()
        expect(page.locator("canvas[data-drawn=true]")).to_have_count(2)
        page.screenshot(path=str(SCREENSHOTS / "q4_job_free.png"), full_page=True)
        assert page.evaluate(OVERFLOW) == [], "the job page is wider than the window"
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator("canvas[data-drawn=true]")).to_have_count(2)
        assert page.evaluate(OVERFLOW) == [], "the job page is wider than a phone"
        page.screenshot(path=str(SCREENSHOTS / "q4_job_phone.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

    jobs = list(QueryJob.objects.order_by("pk"))
    assert [job.status for job in jobs] == ["succeeded", "succeeded"], (tmp_path / "worker.log").read_text()[-3000:]
    assert jobs[1].memo_source_id == jobs[0].pk
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["reserve", "commit"]

    page.goto(f"{base}/queries/history/")
    expect(page.locator("table.query-history tbody tr")).to_have_count(2)
    expect(page.locator("table.query-history .free")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "q4_history.png"), full_page=True)


def test_bob_without_a_policy_is_told_in_the_preview_and_his_submission_is_refused(
    live_server, new_page: Callable[[], Page], hr: Domain, alice: User, bob: User, tmp_path: Path
) -> None:
    load_census(domain=hr, owner=alice, path=tmp_path / "hr.sqlite3")
    page = new_page()
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/queries/?dataset={ADULT}")
    expect(page.get_by_text("You have no access to hr.census.adult yet")).to_be_visible()
    page.get_by_label("SQL", exact=True).fill(GROUPED)
    expect(page.locator("#query-preview")).to_contain_text("You have no access to hr.census.adult")
    page.get_by_role("button", name="Submit — spends budget").click()
    expect(page.locator("#submit-refusal")).to_contain_text("You have no access to hr.census.adult")
    expect(page.get_by_label("SQL", exact=True)).to_have_value(GROUPED)
    page.screenshot(path=str(SCREENSHOTS / "q4_editor_no_access.png"), full_page=True)
    assert not QueryJob.objects.exists()
    assert not LedgerEntry.objects.exists()
