"""The synthetic-data API, person by person: bob (a policy on hr.census.adult), alice (its owner),
dave (an analyst who sees the domain but has no policy), charlie (no access to hr). Real services and
engine on a real SQLite backend; jobs run in this process through eager Celery once the
submission's transaction commits."""

import io
import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from django.test import Client
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.privacy.models import BudgetAccount, LedgerEntry, Policy
from apps.synth import storage
from apps.synth.models import SynthJob
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.factories import GroupFactory, UserFactory
from tests.synth.conftest import COLUMNS, finished_by_hand, queued_job

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/synth/jobs/"
COST = "/api/v1/synth/cost/"
PREVIEW = "/api/v1/synth/datasets/hr.census.adult/preview/"


@pytest.fixture(autouse=True)
def eager(settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def dave(hr):
    user = UserFactory(username="dave")
    user.groups.add(GroupFactory(name="analysts"))
    return user


def body(**overrides: object) -> dict:
    return {"dataset": "hr.census.adult", "synthesizer": "mst", "columns": COLUMNS, "epsilon": "0.5",
            "delta": "0.000001", "rows": 200, **overrides}  # fmt: skip


def post(client: Client, url: str, data: object) -> object:
    return client.post(url, data=json.dumps(data), content_type="application/json")


def ledger() -> list[str]:
    return list(LedgerEntry.objects.order_by("id").values_list("kind", flat=True))


def test_bob_generates_a_sample_and_downloads_it_as_csv_and_parquet_attachments(
    alice, bob, bob_policy, adult_backend, django_capture_on_commit_callbacks
) -> None:
    client = client_for(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, JOBS, body())
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]

    job = client.get(f"{JOBS}{job_id}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert job["charge"] == "charged" and job["percent"] == 100 and job["sample_rows"] == 200
    assert job["output"].startswith("hr.synthetic.adult_sample_")
    assert "utility" not in job, "analysts never see comparisons with the real data"
    owner_view = client_for(alice).get(f"{JOBS}{job_id}/").json()
    assert set(owner_view["utility"]["one_way"]) == set(COLUMNS)

    csv_response = client.get(f"{JOBS}{job_id}/sample.csv")
    assert csv_response.status_code == 200
    assert csv_response["Content-Disposition"] == f'attachment; filename="synthetic-{job_id}-hr-census-adult.csv"'
    assert csv_response["Content-Type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(b"".join(csv_response.streaming_content).decode()))
    assert list(frame.columns) == COLUMNS and len(frame) == 200

    parquet_response = client.get(f"{JOBS}{job_id}/sample.parquet")
    assert parquet_response.status_code == 200
    assert parquet_response["Content-Disposition"] == (
        f'attachment; filename="synthetic-{job_id}-hr-census-adult.parquet"'
    )
    table = pd.read_parquet(io.BytesIO(parquet_response.content))
    assert list(table.columns) == COLUMNS and len(table) == 200
    assert set(table["sex"].dropna()) <= {"Female", "Male"}
    assert AuditEvent.objects.filter(action="synth.download", object_id=str(job_id)).count() == 2
    assert ledger() == ["reserve", "commit"]

    # A cell a spreadsheet would run as a formula is escaped in the CSV.
    hostile = pd.DataFrame({"age": [30, 40], "sex": ["=HYPERLINK(\"http://x\")", "@SUM(A1)"], "salary": ["+1", "-2"]})
    storage.sample_write(job_id, hostile)
    text = b"".join(client.get(f"{JOBS}{job_id}/sample.csv").streaming_content).decode()
    assert text.splitlines()[1:] == ["30,\"'=HYPERLINK(\"\"http://x\"\")\",'+1", "40,'@SUM(A1),'-2"]


def test_the_cost_preview_charges_nothing(bob, bob_policy, adult_backend) -> None:
    response = post(client_for(bob), COST, body())
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["allowed"] is True and data["columns"] == COLUMNS and float(data["cost"]["rho"]) > 0
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"synthesizer": "patectgan"}, "PATECTGAN is not offered"),
        ({"columns": ["age", "person_id"]}, "person_id"),
        ({"epsilon": "abc"}, "number"),
        ({"epsilon": "5"}, "left"),
        ({"rows": 0}, "greater than or equal to 1"),
        ({"columns": "age"}, "list"),
    ],
)
def test_a_refused_configuration_is_a_4xx_with_its_reason_and_charges_nothing(
    bob, bob_policy, adult_backend, changes, message
) -> None:
    response = post(client_for(bob), JOBS, body(**changes))
    assert response.status_code in (400, 403), response.content
    assert message in json.dumps(response.json())
    assert not SynthJob.objects.exists() and not LedgerEntry.objects.exists()


def test_cancelling_a_queued_job_through_the_api_releases_it(bob, bob_policy, adult_backend, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    response = post(client_for(bob), JOBS, body())
    job_id = response.json()["id"]
    cancelled = client_for(bob).post(f"{JOBS}{job_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["charge"] == "released"
    assert client_for(bob).post(f"{JOBS}{job_id}/cancel/").status_code == 409
    assert client_for(bob).get(f"{JOBS}{job_id}/sample.csv").status_code == 409


def test_charlie_and_dave_get_404_for_bobs_job_and_its_files(
    bob, charlie, dave, bob_policy, adult_backend, settings
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    job_id = post(client_for(bob), JOBS, body()).json()["id"]
    for person in (charlie, dave):
        client = client_for(person)
        for url in (f"{JOBS}{job_id}/", f"{JOBS}{job_id}/sample.csv", f"{JOBS}{job_id}/sample.parquet"):
            assert client.get(url).status_code == 404, (person, url)
        assert client.post(f"{JOBS}{job_id}/cancel/").status_code == 404
        assert client.get(JOBS).json()["results"] == []
    assert client_for(charlie).get(PREVIEW).status_code == 404
    assert post(client_for(charlie), JOBS, body()).status_code == 404
    assert ledger() == ["reserve"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/synth/jobs/..%2F..%2Fetc%2Fpasswd/sample.csv",
        "/api/v1/synth/jobs/1/../../../etc/passwd",
        "/api/v1/synth/jobs/99999999999999999999/sample.parquet",
        "/api/v1/synth/jobs/-1/sample.csv",
    ],
)
def test_no_path_reaches_a_file_other_than_a_visible_jobs_sample(bob, url) -> None:
    assert client_for(bob).get(url).status_code == 404


def test_a_sample_is_addressed_by_its_job_id_only(synth_dir: Path) -> None:
    assert storage.sample_path(7) == synth_dir / "sample-7.parquet"
    for bad in ("../etc/passwd", "7", -1, 0, True):
        with pytest.raises(ValueError):
            storage.sample_path(bad)


def test_the_owner_funds_the_preview_and_every_viewer_sees_it_free(
    alice, bob, charlie, dave, bob_policy, adult_backend, django_capture_on_commit_callbacks
) -> None:
    adult_backend.columns.exclude(name__in=["person_id", *COLUMNS]).delete()
    assert client_for(bob).get(PREVIEW).json()["job"] is None
    assert post(client_for(bob), PREVIEW, {}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for(alice), PREVIEW, {"epsilon": "1"})
    assert response.status_code == 202, response.content

    for person in (alice, bob, dave):
        preview = client_for(person).get(PREVIEW).json()
        assert set(preview["histograms"]) == set(COLUMNS)
        assert len(preview["rows"]) == 100 and preview["columns"] == COLUMNS
    assert client_for(charlie).get(PREVIEW).status_code == 404
    # Paid from the dataset-wide budget alone: no one's own budget moved.
    assert ledger() == ["reserve", "commit"]
    total = BudgetAccount.objects.get(dataset=adult_backend, user=None)
    assert total.spent_rho > 0 and total.reserved_rho == 0
    assert not BudgetAccount.objects.filter(user__isnull=False).exists()
    job = SynthJob.objects.get()
    assert job.purpose == "preview" and job.output is None and job.sample_rows == 100
    assert all(count >= 0 for histogram in job.profile.values() for count in histogram["counts"])
    assert set(job.profile["sex"]["labels"]) >= {"Female", "Male"}
    page = client_for(dave).get("/datasets/hr.census.adult/").content.decode()
    assert 'aria-label="Noisy histogram of sex"' in page and "seeing them costs you nothing" in page
    assert page.count("<tr>") >= 100, "the preview's synthetic sample is shown"


def test_the_synthetic_sample_is_visible_to_readers_of_its_source_only(
    alice, bob, charlie, dave, bob_policy, adult_backend
) -> None:
    sample = Dataset.objects.create(
        kind=Dataset.Kind.SYNTHETIC, derived_from=adult_backend, domain=adult_backend.domain,
        address="hr.synthetic.adult_sample_1", name="sample", table_name="adult_sample_1",
    )  # fmt: skip
    url = f"/api/v1/datasets/{sample.address}/"
    assert client_for(bob).get(url).status_code == 200
    assert client_for(alice).get(url).status_code == 200
    assert client_for(dave).get(url).status_code == 404
    assert client_for(charlie).get(url).status_code == 404
    listed = {row["address"] for row in client_for(dave).get("/api/v1/datasets/?limit=500").json()["results"]}
    assert "hr.census.adult" in listed and sample.address not in listed


def test_every_synth_endpoint_is_in_the_openapi_schema(bob) -> None:
    response = client_for(bob).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(response.content)["paths"]
    assert {
        "/api/v1/synth/synthesizers/",
        "/api/v1/synth/cost/",
        "/api/v1/synth/jobs/",
        "/api/v1/synth/jobs/{id}/",
        "/api/v1/synth/jobs/{id}/cancel/",
        "/api/v1/synth/jobs/{id}/sample.csv",
        "/api/v1/synth/jobs/{id}/sample.parquet",
        "/api/v1/synth/datasets/{address}/preview/",
    } <= set(paths)


def test_the_synthesizers_are_listed_with_the_reasons_some_are_not_offered(bob) -> None:
    rows = client_for(bob).get("/api/v1/synth/synthesizers/").json()
    offered = {row["name"]: row for row in rows if row["offered"]}
    assert offered["mst"]["default"] is True
    assert any(row["name"] == "patectgan" and not row["offered"] and row["privacy_note"] for row in rows)


def test_a_submitter_whose_access_ended_no_longer_downloads_or_sees_the_sample(bob, bob_policy, adult_backend) -> None:
    job = finished_by_hand(queued_job(bob, adult_backend), catalogued=True)
    client = client_for(bob)
    assert client.get(f"{JOBS}{job.pk}/sample.csv").status_code == 200
    Policy.objects.filter(pk=bob_policy.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    for fmt in ("csv", "parquet"):
        refused = client.get(f"{JOBS}{job.pk}/sample.{fmt}")
        assert refused.status_code == 403 and "has ended" in refused.json()["message"]
    assert client.get(f"/synth/{job.pk}/sample.csv").status_code == 403
    assert AuditEvent.objects.filter(action="synth.download_refuse", outcome="denied").count() == 3
    assert client.get(f"{JOBS}{job.pk}/").status_code == 200, "the job (what it cost) stays in bob's history"
    assert client.get(f"/api/v1/datasets/{job.output.address}/").status_code == 404
    listed = {row["address"] for row in client.get("/api/v1/datasets/?limit=500").json()["results"]}
    assert "hr.census.adult" in listed and job.output.address not in listed


def test_a_refused_list_item_is_named_by_its_position_in_readable_words(bob, bob_policy, adult_backend) -> None:
    response = post(client_for(bob), COST, body(columns=["age", "x" * 201, ""]))

    assert response.status_code == 400, response.content
    data = response.json()
    assert set(data["fields"]) == {"columns[1]", "columns[2]"}
    assert data["fields"]["columns[1]"] == ["Ensure this field has no more than 200 characters."]
    assert "columns[1]: Ensure this field has no more than 200 characters." in data["message"]
    assert "ErrorDetail" not in data["message"] and "{" not in data["message"]
    assert not LedgerEntry.objects.exists()
