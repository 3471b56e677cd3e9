"""The synthetic-data pages: the DP preview panel on a dataset's page, the form, a job's live page,
cancelling, downloads and the owners-only utility heat map; charlie gets 404 everywhere."""

import pytest
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.privacy.models import LedgerEntry
from apps.synth import storage
from apps.synth.models import SynthJob
from tests.conftest import client_for
from tests.synth.conftest import COLUMNS, finished_by_hand, queued_job

pytestmark = pytest.mark.django_db

DATASET_PAGE = "/datasets/hr.census.adult/"


def test_the_dataset_page_offers_the_dp_preview_and_synthetic_data(alice, bob, charlie, bob_policy, adult_backend):
    page = client_for(bob).get(DATASET_PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "DP preview" in text and "Generate synthetic data" in text
    assert "No DP preview yet." in text and "Refresh the preview" not in text and "Make the preview" not in text
    assert "Make the preview" in client_for(alice).get(DATASET_PAGE).content.decode()
    assert client_for(charlie).get(DATASET_PAGE).status_code == 404


def test_the_form_submits_and_the_job_page_shows_live_progress_and_cancels(bob, charlie, bob_policy, adult_backend):
    client = client_for(bob)
    form = client.get(f"/synth/?dataset={adult_backend.address}")
    assert form.status_code == 200 and "Generate — spends budget" in form.content.decode()
    cost = client.post("/synth/cost/", {"dataset": adult_backend.address, "synthesizer": "mst", "columns": COLUMNS,
                                        "epsilon": "0.5", "delta": "0.000001", "rows": "100"},
                       HTTP_HX_REQUEST="true")  # fmt: skip
    assert cost.status_code == 200 and "Would be allowed" in cost.content.decode()
    refused = client.post("/synth/submit/", {"dataset": adult_backend.address, "synthesizer": "patectgan",
                                             "epsilon": "0.5", "rows": "100"})  # fmt: skip
    assert refused.status_code == 400 and "PATECTGAN is not offered" in refused.content.decode()

    response = client.post("/synth/submit/", {"dataset": adult_backend.address, "synthesizer": "mst",
                                              "columns": COLUMNS, "epsilon": "0.5", "delta": "0.000001",
                                              "rows": "100"})  # fmt: skip
    assert response.status_code == 302
    job = SynthJob.objects.get()
    assert response["Location"] == f"/synth/{job.pk}/"
    live = client.get(f"/synth/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in live and '<progress id="job-progress" max="100" value="0">' in live
    SynthJob.objects.filter(pk=job.pk).update(
        status="running", phase="Fitting the model", progress=0.5, started_at=timezone.now() - timezone.timedelta(
            seconds=20), progress_at=timezone.now())  # fmt: skip
    live = client.get(f"/synth/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Fitting the model" in live and 'value="50"' in live and "about 20 s left" in live

    assert client_for(charlie).get(f"/synth/{job.pk}/").status_code == 404
    assert client_for(charlie).post(f"/synth/{job.pk}/cancel/").status_code == 404
    SynthJob.objects.filter(pk=job.pk).update(status="queued")
    client.post(f"/synth/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert list(LedgerEntry.objects.order_by("id").values_list("kind", flat=True)) == ["reserve", "release"]


def test_the_utility_heat_map_is_for_owners_only(alice, bob, bob_policy, adult_backend):
    job = finished_by_hand(queued_job(bob, adult_backend))
    mine = client_for(bob).get(f"/synth/{job.pk}/").content.decode()
    assert "Download CSV" in mine and "Utility report" not in mine and "0.300" not in mine
    owners = client_for(alice).get(f"/synth/{job.pk}/").content.decode()
    assert "Utility report" in owners and 'class="tvd tvd-6">0.300<' in owners


def test_page_downloads_are_attachments_and_charlie_gets_404(bob, charlie, bob_policy, adult_backend):
    job = finished_by_hand(queued_job(bob, adult_backend))
    csv_response = client_for(bob).get(f"/synth/{job.pk}/sample.csv")
    assert csv_response["Content-Disposition"].startswith("attachment; filename=")
    assert b"".join(csv_response.streaming_content).decode().splitlines()[0] == "age,sex,salary"
    assert client_for(bob).get(f"/synth/{job.pk}/sample.parquet")["Content-Disposition"].startswith("attachment")
    assert client_for(charlie).get(f"/synth/{job.pk}/sample.csv").status_code == 404
    assert client_for(charlie).get(f"/synth/{job.pk}/sample.parquet").status_code == 404


def test_the_history_lists_only_my_jobs(alice, bob, charlie, bob_policy, adult_backend):
    job = queued_job(bob, adult_backend)
    assert f"/synth/{job.pk}/" in client_for(bob).get("/synth/history/").content.decode()
    assert f"/synth/{job.pk}/" not in client_for(charlie).get("/synth/history/").content.decode()


def test_a_synthetic_datasets_page_shows_its_origin_rows_and_downloads(alice, bob, charlie, bob_policy, adult_backend):
    from apps.synth.services import _output_dataset

    job = finished_by_hand(queued_job(bob, adult_backend))
    output = _output_dataset(job, storage.sample_read(job.pk))
    SynthJob.objects.filter(pk=job.pk).update(output=output)
    page = client_for(bob).get(f"/datasets/{output.address}/").content.decode()
    assert "DP synthetic sample" in page and f"/synth/{job.pk}/sample.parquet" in page and ">Female<" in page
    assert "Confidential dataset." not in page, "a DP sample's page does not claim its rows are withheld"
    assert client_for(charlie).get(f"/datasets/{output.address}/").status_code == 404
    assert output.kind == Dataset.Kind.SYNTHETIC


def test_the_owner_refreshes_the_preview_from_the_page(alice, bob, bob_policy, adult_backend, settings):
    response = client_for(alice).post(f"/synth/datasets/{adult_backend.address}/preview/refresh/", {"epsilon": "1"})
    assert response.status_code == 302
    assert SynthJob.objects.get().purpose == "preview"
    assert "A fresh preview is being made" in client_for(bob).get(DATASET_PAGE).content.decode()
    refused = client_for(bob).post(f"/synth/datasets/{adult_backend.address}/preview/refresh/")
    assert refused.status_code == 403


def test_a_damaged_sample_file_leaves_the_page_readable_and_its_downloads_say_why(bob, bob_policy, adult_backend):
    job = finished_by_hand(queued_job(bob, adult_backend), catalogued=True)
    storage.sample_path(job.pk).write_bytes(b"not a parquet file")
    page = client_for(bob).get(f"/datasets/{job.output.address}/")
    assert page.status_code == 200 and "DP synthetic sample" in page.content.decode()
    for fmt in ("csv", "parquet"):
        refused = client_for(bob).get(f"/synth/{job.pk}/sample.{fmt}")
        assert refused.status_code == 409 and "missing or damaged" in refused.content.decode()
    storage.sample_delete(job.pk)
    refused = client_for(bob).get(f"/api/v1/synth/jobs/{job.pk}/sample.parquet")
    assert refused.status_code == 409 and "missing or damaged" in refused.json()["message"]


@pytest.mark.parametrize(
    "url",
    ["/synth/?dataset=hr.census.adult%00", "/synth/datasets/hr%00/preview/", "/api/v1/synth/datasets/hr%00/preview/"],
)
def test_an_address_with_a_nul_character_is_404_not_500(bob, bob_policy, adult_backend, url):
    assert client_for(bob).get(url).status_code == 404
