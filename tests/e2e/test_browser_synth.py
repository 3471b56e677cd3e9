"""In a real browser, with a real celery worker: bob opens hr.census.adult, follows "Generate
synthetic data", asks for 1,000 rows of three columns with MST, watches the job's progress bar
until it finishes, downloads the CSV and opens the Parquet file with pandas."""

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Domain
from apps.privacy.models import LedgerEntry
from apps.privacy.services import policy_save
from apps.synth.models import SynthJob
from tests.e2e.test_browser_queries import log_in
from tests.e2e.workers import celery_worker, flush_broker
from tests.queries.test_views import load_census

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp")
ADULT = "hr.census.adult"


@pytest.fixture
def census(hr: Domain, alice: User, bob: User, tmp_path: Path) -> Dataset:
    dataset = load_census(domain=hr, owner=alice, path=tmp_path / "hr.sqlite3")
    policy_save(actor=alice, scope=dataset, user=bob, epsilon_budget="2", delta_budget="0.000001")
    return dataset


def test_bob_generates_1000_synthetic_rows_watches_the_progress_and_downloads_csv_and_parquet(
    live_server, new_page: Callable[[], Page], census: Dataset, bob: User, tmp_path: Path, settings, monkeypatch
) -> None:
    # The worker (another process) and this live server share the samples' folder.
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    # The worker compiles mbi's model for the job; without optimisations it compiles in half the time.
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
    settings.PORTAL_SYNTH_DIR = str(tmp_path / "synth")
    base = live_server.url
    page = new_page()
    log_in(page, base, "bob")
    flush_broker()
    # The worker starts while bob fills in the form (it takes seconds to start).
    with celery_worker("synthesis", log_path=tmp_path / "worker.log"):
        page.goto(f"{base}/datasets/{ADULT}/")
        expect(page.get_by_role("heading", name="DP preview")).to_be_visible()
        page.get_by_role("link", name="Generate synthetic data").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Generate synthetic data of"))

        expect(page.get_by_label("Synthesizer", exact=True)).to_have_value("mst")
        for column in ("sex", "race", "salary"):
            page.get_by_role("checkbox", name=column, exact=True).check()
        page.get_by_label("Epsilon", exact=True).fill("1")
        page.get_by_label("Rows", exact=True).fill("1000")
        expect(page.locator("#synth-cost dd").last).to_have_text("race, sex, salary")
        expect(page.locator("#synth-cost")).to_contain_text("Would be allowed")
        assert not LedgerEntry.objects.exists(), "the cost preview charged something"
        page.screenshot(path=str(SCREENSHOTS / "s5_form.png"), full_page=True)

        page.get_by_role("button", name="Generate — spends budget").click()
        expect(page).to_have_url(re.compile(r"/synth/\d+/$"))
        expect(page.locator("#job-status")).to_have_text(re.compile("Queued|Running"))
        expect(page.locator("#job-progress")).to_be_visible()
        expect(page.locator("#job-cost")).to_contain_text("reserved")

        seen: set[str] = set()
        expect(page.locator("#job-status")).to_have_text(re.compile("Running|Succeeded"), timeout=60_000)
        while page.locator("#job-status").inner_text() != "Succeeded":
            if page.locator("#job-percent").count():
                seen.add(page.locator("#job-percent").inner_text())
                if len(seen) == 2:
                    page.screenshot(path=str(SCREENSHOTS / "s5_job_running.png"), full_page=True)
            page.wait_for_timeout(150)
            assert page.locator("#job-status").inner_text() not in ("Failed", "Cancelled"), page.content()[-2000:]
    assert any(value not in ("0%", "100%") for value in seen), f"the progress bar never moved: {seen}"
    expect(page.locator("#job-cost")).to_contain_text("charged")
    expect(page.get_by_text("1000 synthetic rows")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "s5_job_done.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    csv_path = tmp_path / "sample.csv"
    download_info.value.save_as(csv_path)
    assert download_info.value.suggested_filename.endswith("-hr-census-adult.csv")
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 1000 and set(rows[0]) == {"sex", "race", "salary"}

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download Parquet").click()
    parquet_path = tmp_path / "sample.parquet"
    download_info.value.save_as(parquet_path)
    frame = pd.read_parquet(parquet_path)
    assert len(frame) == 1000 and list(frame.columns) == ["race", "sex", "salary"]
    assert set(frame["sex"].dropna()) <= {"Female", "Male"}

    job = SynthJob.objects.get()
    assert job.status == "succeeded" and job.output.kind == "synthetic"
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["reserve", "commit"]
    page.goto(f"{base}/datasets/{job.output.address}/")
    expect(page.get_by_role("heading", name="DP synthetic sample")).to_be_visible()
