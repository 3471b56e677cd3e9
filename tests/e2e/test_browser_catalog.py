"""In a real browser: bob finds the confidential adult census, sees its schema and no row of it;
alice fixes a column's bounds in place."""

import csv
import gzip
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.catalog.harvest_services import harvest_backend_now
from apps.catalog.models import Dataset, HarvestRun
from apps.domains.models import Backend, Domain
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADULT_CSV = Path(__file__).resolve().parents[2] / "apps/catalog/demo_data/adult.csv.gz"
ROWS = 200
NUMERIC = {"age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"}
SCREENSHOTS = Path("/tmp")


def adult_sqlite(path: Path) -> tuple[list[str], list[list[str]]]:
    """The first rows of adult.csv as table ``adult``, with a ``person_id`` column first."""
    with gzip.open(ADULT_CSV, "rt", newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [name.strip() for name in next(reader)]
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
    columns = ["person_id", *header]
    ddl = ", ".join(
        ['"person_id" INTEGER PRIMARY KEY', *(f'"{c}" {"INTEGER" if c in NUMERIC else "TEXT"}' for c in header)]
    )
    placeholders = ", ".join("?" * len(columns))
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE adult ({ddl})")
        db.executemany(f"INSERT INTO adult VALUES ({placeholders})", [[i, *r] for i, r in enumerate(rows, start=1)])  # noqa: S608
    db.close()
    return columns, rows


@pytest.fixture
def hr_census(hr: Domain, alice: User, bob: User, tmp_path: Path) -> tuple[Dataset, list[str], list[list[str]]]:
    path = tmp_path / "hr.sqlite3"
    columns, rows = adult_sqlite(path)
    backend = Backend.objects.create(domain=hr, slug="census", kind=Backend.Kind.SQLITE, url=str(path))
    run = harvest_backend_now(actor=alice, backend=backend)
    assert run.status == HarvestRun.Status.SUCCEEDED, run.message
    return Dataset.objects.get(address="hr.census.adult"), columns, rows


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Data mesh catalog")).to_be_visible()


def test_bob_searches_adult_and_sees_its_columns_but_no_row_value(
    live_server, new_page: Callable[[], Page], hr_census: tuple[Dataset, list[str], list[list[str]]]
) -> None:
    _, columns, rows = hr_census
    page = new_page()
    log_in(page, live_server.url, "bob")
    page.screenshot(path=str(SCREENSHOTS / "h5_home_bob.png"), full_page=True)

    page.get_by_role("searchbox", name="Search the catalog").fill("adult")
    page.get_by_role("searchbox", name="Search the catalog").press("Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=adult"))
    page.screenshot(path=str(SCREENSHOTS / "h5_search_bob.png"), full_page=True)
    page.locator(".result-list a").first.click()

    expect(page).to_have_url(f"{live_server.url}/datasets/hr.census.adult/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("adult")
    names = page.locator("table.schema tbody th code.colname").all_inner_texts()
    assert names == columns and len(names) == 16
    expect(page.get_by_text("Only differentially private access is possible")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "h5_dataset_bob.png"), full_page=True)

    html = page.content()
    text = page.locator("body").inner_text()
    fnlwgt = [row[columns.index("fnlwgt") - 1] for row in rows[:50]]
    assert len(set(fnlwgt)) > 40
    for value in fnlwgt:
        assert value not in html, value
    assert "Edit" not in text

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("table.schema")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "h5_dataset_bob_mobile.png"), full_page=False)


def test_alice_fixes_a_column_s_bounds_in_place(
    live_server, new_page: Callable[[], Page], hr_census: tuple[Dataset, list[str], list[list[str]]]
) -> None:
    dataset, _, _ = hr_census
    age = dataset.columns.get(name="age")
    page = new_page()
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/datasets/hr.census.adult/")
    row = page.locator(f"#col-{age.pk}")

    row.get_by_role("link", name="Edit age").click()
    lower = row.get_by_label("Lower bound")
    expect(lower).to_be_visible()
    lower.fill("90")
    row.get_by_label("Upper bound").fill("17")
    row.get_by_role("button", name="Save").click()

    error = row.get_by_role("alert")
    expect(error).to_have_text("The lower bound must be below the upper bound.")
    expect(page).to_have_url(f"{live_server.url}/datasets/hr.census.adult/")
    page.screenshot(path=str(SCREENSHOTS / "h5_column_error_alice.png"), full_page=True)
    age.refresh_from_db()
    assert age.lower_bound is None

    row.get_by_label("Lower bound").fill("17")
    row.get_by_label("Upper bound").fill("90")
    row.get_by_role("button", name="Save").click()

    expect(row).to_contain_text("17 to 90")
    expect(row.get_by_role("status")).to_have_text("Saved")
    page.screenshot(path=str(SCREENSHOTS / "h5_column_saved_alice.png"), full_page=True)
    age.refresh_from_db()
    assert (age.lower_bound, age.upper_bound) == (17, 90)
