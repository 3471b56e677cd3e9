"""The query pages, person by person: bob (a DP policy on hr), bob without one, dave (another
analyst of hr), charlie (no access to hr). The census table is the real UCI Adult extract in a
SQLite backend, harvested and declared like the demo mesh; jobs run through the real services."""

import shutil
from pathlib import Path

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.catalog.demo import build_hr_sqlite
from apps.catalog.demo_data.declarations import ADULT_BOUNDS, ADULT_CATEGORIES
from apps.catalog.harvest_services import harvest_backend_now
from apps.catalog.models import Dataset
from apps.catalog.services import column_update, dataset_update
from apps.domains.models import Backend, Domain
from apps.privacy.models import LedgerEntry, Policy
from apps.privacy.services import dataset_budget_set, policy_save
from apps.queries.models import QueryJob
from apps.queries.services import query_run
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADULT = "hr.census.adult"
GROUPED = "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex"
EDITOR = f"/queries/?dataset={ADULT}"
HTMX = {"HTTP_HX_REQUEST": "true"}


def load_census(*, domain: Domain, owner: User, path: Path) -> Dataset:
    """hr.census.adult as the demo mesh declares it, with a dataset-wide budget of epsilon 10."""
    build_hr_sqlite(path)
    backend = Backend.objects.create(domain=domain, slug="census", kind=Backend.Kind.SQLITE, url=str(path))
    harvest_backend_now(actor=owner, backend=backend)
    dataset = Dataset.objects.get(address=ADULT)
    dataset_update(actor=owner, dataset=dataset, privacy_unit_column="person_id", max_rows_per_unit=1)
    for column in dataset.columns.filter(removed_at__isnull=True):
        if column.name in ADULT_BOUNDS:
            lower, upper = ADULT_BOUNDS[column.name]
            column_update(actor=owner, column=column, lower_bound=lower, upper_bound=upper)
        elif column.name in ADULT_CATEGORIES:
            column_update(actor=owner, column=column, categories=ADULT_CATEGORIES[column.name])
    dataset_budget_set(actor=owner, dataset=dataset, epsilon_limit="10", delta_limit="0.00001")
    return Dataset.objects.get(pk=dataset.pk)


@pytest.fixture(scope="session")
def census_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("census") / "hr.sqlite3"
    build_hr_sqlite(path)
    return path


@pytest.fixture
def census(hr: Domain, alice: User, census_file: Path) -> Dataset:
    return load_census(domain=hr, owner=alice, path=census_file)


@pytest.fixture
def bob_policy(census: Dataset, alice: User, bob: User) -> Policy:
    return policy_save(actor=alice, scope=census, user=bob, epsilon_budget="2", delta_budget="0.000001")


@pytest.fixture
def dave(hr: Domain) -> User:
    user = UserFactory(username="dave")
    user.groups.add(hr.visible_to_groups.first())
    return user


def query(**overrides: str) -> dict[str, str]:
    return {"dataset": ADULT, "sql": GROUPED, "mechanism": "laplace", "epsilon": "0.5", "delta": "", **overrides}


def submit(client: Client, captured, **overrides: str):
    """Submit and, once the transaction commits, run the job (eager Celery)."""
    with captured(execute=True):
        return client.post("/queries/submit/", query(**overrides))


@pytest.fixture
def eager(settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True


def ledger() -> list[tuple[str, str]]:
    return list(LedgerEntry.objects.values_list("kind", "epsilon"))


# --- the editor ------------------------------------------------------------------------------


def test_the_editor_shows_the_schema_with_bounds_categories_and_the_privacy_unit(bob: User, bob_policy: Policy) -> None:
    response = client_for(bob).get(EDITOR)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ask a DP question of" in body
    assert "person_id" in body and "privacy unit" in body
    assert "bounds 17 to 90" in body
    assert "Female" in body and "Male" in body
    assert 'name="sql"' in body and 'name="epsilon"' in body and 'name="rho"' in body


def test_the_editor_shows_bob_s_remaining_budget(bob: User, bob_policy: Policy) -> None:
    body = client_for(bob).get(EDITOR).content.decode()
    assert '<strong id="budget-remaining">2</strong> of 2 epsilon' in body


def test_the_dataset_page_links_to_the_editor(bob: User, bob_policy: Policy) -> None:
    body = client_for(bob).get(f"/datasets/{ADULT}/").content.decode()
    assert f'href="/queries/?dataset={ADULT}"' in body
    assert "Ask a DP question" in body


def test_without_a_dataset_the_editor_lists_the_confidential_datasets_bob_can_see(bob: User, census: Dataset) -> None:
    response = client_for(bob).get("/queries/")
    assert response.status_code == 200
    assert f"?dataset={ADULT}" in response.content.decode()


def test_charlie_sees_no_hr_dataset_to_query(charlie: User, census: Dataset) -> None:
    response = client_for(charlie).get("/queries/")
    assert ADULT not in response.content.decode()


# --- the preview -----------------------------------------------------------------------------


def test_the_preview_shows_cost_accuracy_and_that_it_would_be_allowed_and_charges_nothing(
    bob: User, bob_policy: Policy
) -> None:
    response = client_for(bob).post("/queries/preview/", query(), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Would be allowed" in body
    assert "epsilon 0.5" in body
    assert "95% CI half-width" in body
    assert "<html" not in body
    assert ledger() == []
    assert not QueryJob.objects.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM adult",
        "SELECT age FROM adult",
        "SELECT COUNT(*) FROM adult; DROP TABLE adult",
        "SELECT COUNT(*) FROM (SELECT * FROM adult) AS t",
        "SELECT COUNT(*) FROM adult UNION SELECT COUNT(*) FROM adult",
        "SELECT COUNT(salary_typo) FROM adult",
    ],
)
def test_a_refused_query_shows_the_rule_in_place_with_status_400_and_charges_nothing(
    bob: User, bob_policy: Policy, sql: str
) -> None:
    response = client_for(bob).post("/queries/preview/", query(sql=sql), **HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'class="notice error preview-refusal"' in body
    assert "Refused:" in body
    assert "Nothing was reserved or charged." in body
    assert ledger() == []


def test_an_empty_query_asks_for_one(bob: User, bob_policy: Policy) -> None:
    response = client_for(bob).post("/queries/preview/", query(sql="  "), **HTMX)
    assert response.status_code == 200
    assert "Type a query" in response.content.decode()


def test_a_bad_epsilon_is_refused_in_place(bob: User, bob_policy: Policy) -> None:
    response = client_for(bob).post("/queries/preview/", query(epsilon="-1"), **HTMX)
    assert response.status_code == 400
    assert "epsilon" in response.content.decode()
    assert ledger() == []


def test_a_query_over_bob_s_budget_is_previewed_as_refused(bob: User, bob_policy: Policy) -> None:
    response = client_for(bob).post("/queries/preview/", query(epsilon="5"), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Would be refused:" in body
    assert "your budget on hr.census.adult has 2 left" in body
    assert ledger() == []


def test_without_javascript_the_preview_button_gives_the_whole_editor(bob: User, bob_policy: Policy) -> None:
    response = client_for(bob).post("/queries/preview/", query())
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body and "Would be allowed" in body
    assert GROUPED in body


# --- bob without a policy --------------------------------------------------------------------


def test_bob_without_a_policy_sees_the_editor_and_is_told_he_has_no_access(bob: User, census: Dataset) -> None:
    client = client_for(bob)
    editor = client.get(EDITOR)
    assert editor.status_code == 200
    assert "You have no access to hr.census.adult yet" in editor.content.decode()

    preview = client.post("/queries/preview/", query(), **HTMX)
    assert "You have no access to hr.census.adult" in preview.content.decode()


def test_bob_without_a_policy_cannot_submit_and_is_told_why(
    bob: User, census: Dataset, eager, django_capture_on_commit_callbacks
) -> None:
    response = submit(client_for(bob), django_capture_on_commit_callbacks)
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not submitted." in body
    assert "You have no access to hr.census.adult" in body
    assert not QueryJob.objects.exists()
    assert ledger() == []


# --- charlie, dave and anonymous -------------------------------------------------------------


def test_charlie_gets_404_everywhere_on_hr(
    charlie: User, bob: User, bob_policy: Policy, django_capture_on_commit_callbacks
) -> None:
    job = submit(client_for(bob), django_capture_on_commit_callbacks)
    pk = QueryJob.objects.get().pk
    assert job.status_code == 302
    before = ledger()
    client = client_for(charlie)
    assert client.get(EDITOR).status_code == 404
    assert client.post("/queries/preview/", query(), **HTMX).status_code == 404
    assert client.post("/queries/submit/", query()).status_code == 404
    assert client.get(f"/queries/{pk}/").status_code == 404
    assert client.get(f"/queries/{pk}/", **HTMX).status_code == 404
    assert client.post(f"/queries/{pk}/cancel/").status_code == 404
    assert client.get(f"/queries/{pk}/result.csv").status_code == 404
    assert ADULT not in client.get("/queries/history/").content.decode()
    assert ledger() == before
    assert QueryJob.objects.count() == 1


def test_another_analyst_gets_404_on_bob_s_job(
    dave: User, bob: User, bob_policy: Policy, django_capture_on_commit_callbacks
) -> None:
    submit(client_for(bob), django_capture_on_commit_callbacks)
    job = QueryJob.objects.get()
    client = client_for(dave)
    assert client.get(f"/queries/{job.pk}/").status_code == 404
    assert client.post(f"/queries/{job.pk}/cancel/").status_code == 404
    assert f"#{job.pk}" not in client.get("/queries/history/").content.decode()
    job.refresh_from_db()
    assert job.status == QueryJob.Status.QUEUED


def test_the_pages_need_a_login(census: Dataset) -> None:
    client = Client()
    for url in (EDITOR, "/queries/history/", "/queries/1/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post("/queries/preview/", query()).status_code == 302


def test_an_open_dataset_has_no_dp_editor(bob: User, db) -> None:
    from tests.factories import DatasetFactory, DomainFactory

    DatasetFactory(domain=DomainFactory(slug="sales"), address="sales.shop.orders", table_name="orders")
    client = client_for(bob)
    assert client.get("/datasets/sales.shop.orders/").status_code == 200
    assert client.get("/queries/?dataset=sales.shop.orders").status_code == 404


# --- submitting and the job page -------------------------------------------------------------


def test_submitting_runs_the_job_and_its_page_shows_the_answer_with_intervals_and_the_charge(
    bob: User, bob_policy: Policy, eager, django_capture_on_commit_callbacks
) -> None:
    client = client_for(bob)
    response = submit(client, django_capture_on_commit_callbacks)
    job = QueryJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/queries/{job.pk}/"
    assert job.status == QueryJob.Status.SUCCEEDED, job.error

    body = client.get(f"/queries/{job.pk}/").content.decode()
    assert 'id="job-status">Succeeded' in body
    assert '<th scope="row">Female</th>' in body and '<th scope="row">Male</th>' in body
    assert body.count('class="ci"') == 4
    assert 'id="result-chart-data"' in body
    assert body.count("<canvas") == 2
    assert "epsilon 0.5" in body and "charged" in body
    assert 'hx-trigger="every 1s"' not in body
    assert f'href="/queries/{job.pk}/result.csv"' in body
    assert [kind for kind, _ in ledger()] == ["reserve", "commit"]

    download = client.get(f"/queries/{job.pk}/result.csv")
    assert download["Content-Disposition"] == f'attachment; filename="query-{job.pk}.csv"'
    lines = download.content.decode().splitlines()
    assert lines[0].startswith("sex,")
    assert [line.split(",")[0] for line in lines[1:]] == ["Female", "Male"]


def test_resubmitting_the_same_query_is_free_and_says_so(
    bob: User, bob_policy: Policy, eager, django_capture_on_commit_callbacks
) -> None:
    client = client_for(bob)
    submit(client, django_capture_on_commit_callbacks)
    first = QueryJob.objects.get()

    preview = client.post("/queries/preview/", query(), **HTMX).content.decode()
    assert "Free: identical to an earlier query." in preview

    response = submit(client, django_capture_on_commit_callbacks)
    second = QueryJob.objects.exclude(pk=first.pk).get()
    assert response["Location"] == f"/queries/{second.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "identical to an earlier query, so this is its stored answer; nothing was charged." in page
    assert '<strong class="free">Free</strong>' in page
    assert "Male" in page
    assert [kind for kind, _ in ledger()] == ["reserve", "commit"]

    history = client.get("/queries/history/").content.decode()
    assert history.count('<strong class="free">free</strong>') == 1


def test_a_different_query_is_charged_again(
    bob: User, bob_policy: Policy, eager, django_capture_on_commit_callbacks
) -> None:
    client = client_for(bob)
    submit(client, django_capture_on_commit_callbacks)
    submit(client, django_capture_on_commit_callbacks, epsilon="0.25")
    assert sorted(str(e.normalize()) for kind, e in ledger() if kind == "reserve") == ["0.25", "0.5"]


def test_a_queued_job_polls_and_can_be_cancelled_which_releases_its_reservation(
    bob: User, bob_policy: Policy, django_capture_on_commit_callbacks
) -> None:
    client = client_for(bob)
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/queries/submit/", query())
    job = QueryJob.objects.get()
    fragment = client.get(f"/queries/{job.pk}/", **HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in fragment
    assert "Cancel the query" in fragment
    assert "<html" not in fragment

    response = client.post(f"/queries/{job.pk}/cancel/", **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="job-status">Cancelled' in body
    assert "released" in body
    assert 'hx-trigger="every 1s"' not in body
    assert [kind for kind, _ in ledger()] == ["reserve", "release"]


def test_the_history_lists_bob_s_queries_with_their_costs(
    bob: User, bob_policy: Policy, eager, django_capture_on_commit_callbacks
) -> None:
    client = client_for(bob)
    submit(client, django_capture_on_commit_callbacks)
    job = QueryJob.objects.get()
    body = client.get("/queries/history/").content.decode()
    assert f'href="/queries/{job.pk}/"' in body
    assert ADULT in body
    assert "Succeeded" in body
    assert "epsilon 0.5" in body


def test_a_gaussian_preview_shows_rho_and_its_equivalent_epsilon(bob: User, bob_policy: Policy) -> None:
    response = client_for(bob).post("/queries/preview/", query(mechanism="gaussian", rho="0.05"), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "rho 0.05" in body
    assert "Equivalent epsilon" in body


def test_grouping_by_a_column_without_categories_asks_for_delta_then_charges_it(bob: User, bob_policy: Policy) -> None:
    client = client_for(bob)
    sql = "SELECT age, COUNT(*) FROM adult GROUP BY age"
    refused = client.post("/queries/preview/", query(sql=sql), **HTMX)
    assert refused.status_code == 400
    assert "delta" in refused.content.decode()

    allowed = client.post("/queries/preview/", query(sql=sql, delta="0.0000001"), **HTMX)
    assert allowed.status_code == 200
    assert "delta 0.0000001" in allowed.content.decode()
    assert ledger() == []


def test_a_failed_job_says_why_and_whether_it_was_charged(
    hr: Domain, alice: User, bob: User, census_file: Path, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    copy = tmp_path / "hr.sqlite3"
    shutil.copy(census_file, copy)
    dataset = load_census(domain=hr, owner=alice, path=copy)
    policy_save(actor=alice, scope=dataset, user=bob, epsilon_budget="2")
    client = client_for(bob)
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/queries/submit/", query())
    job = QueryJob.objects.get()
    copy.unlink()
    query_run(job_id=job.pk)

    body = client.get(f"/queries/{job.pk}/").content.decode()
    assert 'id="job-status">Failed' in body
    assert "Failed: " in body
    assert "result-table" not in body
    ending = LedgerEntry.objects.exclude(kind="reserve").get().kind
    assert ("nothing was charged" in body) == (ending == "release")
