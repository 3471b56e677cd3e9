"""The DP query API, person by person: bob (a DP policy on hr), bob without one, charlie (no
access to hr). Real services, compiler and noise on a real PostgreSQL backend; jobs run in this
process through eager Celery once the submission's transaction commits."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.catalog.models import Column, Dataset
from apps.domains.models import Domain
from apps.privacy.models import LedgerEntry, Policy
from apps.privacy.services import policy_save
from apps.queries.models import QueryJob
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.queries.census_backend import census_database, load_census

pytestmark = pytest.mark.django_db

GROUPED = "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex"
QUERIES = "/api/v1/queries/"
PREVIEW = "/api/v1/queries/preview/"


@pytest.fixture(scope="session")
def census_url(django_db_setup: None, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return census_database()


@pytest.fixture
def adult(hr: Domain, alice: User, census_url: str) -> Dataset:
    return load_census(domain=hr, owner=alice, url=census_url)["adult"]


@pytest.fixture
def bob_policy(hr: Domain, adult: Dataset, alice: User, bob: User) -> Policy:
    return policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="3", delta_budget="0.00001")


@pytest.fixture(autouse=True)
def eager(settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True


def body(**overrides: object) -> dict:
    return {"dataset": "hr.census.adult", "sql": GROUPED, "mechanism": "laplace", "epsilon": "0.5", **overrides}


def post(client: Client, url: str, data: object) -> object:
    return client.post(url, data=json.dumps(data), content_type="application/json")


def ledger() -> list[str]:
    return list(LedgerEntry.objects.order_by("id").values_list("kind", flat=True))


@pytest.fixture
def bob_job(bob: User, bob_policy: Policy, django_capture_on_commit_callbacks) -> dict:
    """A query bob submitted and a worker answered."""
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for(bob), QUERIES, body())
    assert response.status_code == 201, response.content
    return response.json()


# --- preview -------------------------------------------------------------------------------------


def test_the_preview_gives_cost_accuracy_and_balances_and_charges_nothing(bob: User, bob_policy: Policy) -> None:
    response = post(client_for(bob), PREVIEW, body())

    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["allowed"] is True and preview["reason"] == ""
    assert Decimal(preview["cost"]["epsilon"]) == Decimal("0.5")
    assert preview["memoized"] is False
    assert set(preview["accuracy"]) == {"count", "avg_age"}
    assert all(isinstance(half, float) and half > 0 for half in preview["accuracy"].values())
    assert Decimal(preview["user_balance"]["epsilon_remaining"]) == Decimal(3)
    assert preview["dataset_balance"] is not None
    assert ledger() == []


def test_a_rejected_query_is_a_400_naming_the_rule_and_charges_nothing(bob: User, bob_policy: Policy) -> None:
    for url in (PREVIEW, QUERIES):
        response = post(client_for(bob), url, body(sql="SELECT * FROM adult"))
        assert response.status_code == 400
        assert response.json()["code"] == "query_rejected"
        assert response.json()["message"]
    assert ledger() == [] and not QueryJob.objects.exists()


def test_the_preview_tells_bob_without_a_policy_that_it_would_be_refused(bob: User, adult: Dataset) -> None:
    preview = post(client_for(bob), PREVIEW, body()).json()

    assert preview["allowed"] is False and "no access to hr.census.adult" in preview["reason"]


# --- submit, read, list --------------------------------------------------------------------------


def test_bob_submits_a_query_and_reads_its_noisy_answer(bob: User, bob_job: dict) -> None:
    assert bob_job["status"] == "queued" and bob_job["memoized"] is False
    assert Decimal(bob_job["cost"]["epsilon"]) == Decimal("0.5")

    job = client_for(bob).get(f"{QUERIES}{bob_job['id']}/").json()

    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["columns"][0] == "sex"
    assert [row[0] for row in job["result"]["rows"]] == ["Female", "Male"]
    assert job["charge"] == "charged" and job["finished_at"]
    assert ledger() == ["reserve", "commit"]


def test_the_same_query_again_is_200_memoized_and_free(bob: User, bob_job: dict) -> None:
    response = post(client_for(bob), QUERIES, body(sql="select sex, count(*), avg(age) from adult group by sex"))

    assert response.status_code == 200
    again = response.json()
    assert again["memoized"] is True and again["memo_source"] == bob_job["id"]
    assert again["status"] == "succeeded" and again["charge"] == "free"
    assert {Decimal(v) for v in again["cost"].values()} == {Decimal(0)}
    assert ledger() == ["reserve", "commit"]


def test_the_history_lists_only_bob_s_own_queries_newest_first(
    bob: User, charlie: User, bob_job: dict, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        post(client_for(bob), QUERIES, body(epsilon="0.25"))

    page = client_for(bob).get(QUERIES).json()

    assert page["count"] == 2
    assert [job["epsilon"] for job in page["results"]] == ["0.250000000000", "0.500000000000"]
    assert client_for(charlie).get(QUERIES).json()["count"] == 0


def test_bob_without_a_policy_gets_a_403_naming_the_problem_and_nothing_is_charged(bob: User, adult: Dataset) -> None:
    response = post(client_for(bob), QUERIES, body())

    assert response.status_code == 403
    assert "no access to hr.census.adult" in response.json()["message"]
    assert ledger() == [] and not QueryJob.objects.exists()


@pytest.mark.parametrize(
    "amounts",
    [
        {"epsilon": "-1"},
        {"epsilon": -1},
        {"epsilon": "0"},
        {"epsilon": 0},
        {"epsilon": "NaN"},
        {"epsilon": "Infinity"},
        {"epsilon": "-Infinity"},
        {"epsilon": "a lot"},
        {"epsilon": True},
        {"epsilon": [1]},
        {"epsilon": {"value": 1}},
        {"epsilon": 10**400},
        {"epsilon": "0.5", "delta": "-0.000001"},
        {"epsilon": "0.5", "delta": "1"},
        {"epsilon": "0.5", "delta": "NaN"},
        {"mechanism": "gaussian", "epsilon": None, "rho": "-0.5"},
        {"mechanism": "gaussian", "rho": "0"},
        {"mechanism": "synthesizer"},
        {"mechanism": ["laplace"]},
    ],
)
def test_bad_amounts_are_a_400_and_nothing_is_charged(bob: User, bob_policy: Policy, amounts: dict) -> None:
    data = {key: value for key, value in body(**amounts).items() if value is not None}
    for url in (PREVIEW, QUERIES):
        response = post(client_for(bob), url, data)
        assert response.status_code == 400, (url, response.content)
        assert response.json()["message"]
    assert ledger() == [] and not QueryJob.objects.exists()


def test_an_amount_above_the_policy_cap_is_a_400_naming_the_cap(hr: Domain, alice: User, bob: User, adult) -> None:
    policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="3", epsilon_per_release_cap="0.2")

    response = post(client_for(bob), QUERIES, body(epsilon="0.5"))

    assert response.status_code == 400 and "at most epsilon 0.2" in response.json()["message"]
    assert ledger() == []


def test_a_query_over_budget_is_a_403_naming_what_is_left(bob: User, bob_policy: Policy) -> None:
    preview = post(client_for(bob), PREVIEW, body(epsilon="4")).json()
    response = post(client_for(bob), QUERIES, body(epsilon="4"))

    assert preview["allowed"] is False and "has 3 left" in preview["reason"]
    assert response.status_code == 403 and response.json()["code"] == "budget_exhausted"
    assert "has 3 left" in response.json()["message"]
    assert ledger() == [] and not QueryJob.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"dataset": "hr.census.adult", "sql": "SELECT COUNT(*) FROM adult", "mechanism": "laplace", "epsilon": NaN}',
        b'{"dataset": "hr.census.adult", "sql": "SELECT 1", "mechanism": "laplace", "epsilon": 1e999}',
        b"[" * 5000 + b"]" * 5000,
        b"\xff\xfe not json",
        b"",
        b'"just a string"',
    ],
)
def test_malformed_bodies_are_a_4xx_and_nothing_is_charged(bob: User, bob_policy: Policy, raw: bytes) -> None:
    response = client_for(bob).post(QUERIES, data=raw, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert ledger() == []


def test_a_huge_sql_text_is_refused_before_anything_is_compiled(bob: User, bob_policy: Policy) -> None:
    response = post(client_for(bob), QUERIES, body(sql="SELECT COUNT(*) FROM adult WHERE " + "age > 1 AND " * 5000))

    assert response.status_code == 400 and "sql" in response.json()["fields"]
    assert ledger() == []


def test_odd_unicode_in_the_sql_is_refused_cleanly(bob: User, bob_policy: Policy) -> None:
    response = post(client_for(bob), QUERIES, body(sql="SELECT COUNT(*) FROM adult\u202e\u0000 WHERE sex = 'x'"))

    assert 400 <= response.status_code < 500
    assert ledger() == []


# --- charlie and other people's jobs -------------------------------------------------------------


def test_charlie_gets_404_on_hr_and_on_bob_s_job(charlie: User, bob_job: dict) -> None:
    client = client_for(charlie)
    job = bob_job["id"]

    assert post(client, PREVIEW, body()).status_code == 404
    assert post(client, QUERIES, body()).status_code == 404
    assert client.get(f"{QUERIES}{job}/").status_code == 404
    assert post(client, f"{QUERIES}{job}/cancel/", {}).status_code == 404
    assert client.get(f"{QUERIES}{job}/result.csv").status_code == 404
    assert ledger() == ["reserve", "commit"]


def test_another_analyst_gets_404_on_bob_s_job(hr: Domain, bob_job: dict) -> None:
    from tests.factories import UserFactory

    dave = UserFactory(username="dave")
    dave.groups.add(hr.visible_to_groups.first())

    assert client_for(dave).get(f"{QUERIES}{bob_job['id']}/").status_code == 404


def test_anonymous_requests_are_refused(bob_job: dict) -> None:
    assert Client().get(QUERIES).status_code in (401, 403)
    assert Client().get(f"{QUERIES}{bob_job['id']}/result.csv").status_code in (401, 403)


# --- cancel --------------------------------------------------------------------------------------


def test_bob_cancels_a_queued_query_and_gets_his_budget_back(bob: User, bob_policy: Policy) -> None:
    job = post(client_for(bob), QUERIES, body()).json()  # not run: its transaction's callbacks never fire

    response = post(client_for(bob), f"{QUERIES}{job['id']}/cancel/", {})

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["charge"] == "released"
    assert ledger() == ["reserve", "release"]


def test_a_finished_query_cannot_be_cancelled(bob: User, bob_job: dict) -> None:
    response = post(client_for(bob), f"{QUERIES}{bob_job['id']}/cancel/", {})

    assert response.status_code == 409 and "already ended" in response.json()["message"]
    assert ledger() == ["reserve", "commit"]


def test_a_running_query_cannot_be_cancelled(bob: User, bob_policy: Policy) -> None:
    job = post(client_for(bob), QUERIES, body()).json()
    QueryJob.objects.filter(pk=job["id"]).update(status=QueryJob.Status.RUNNING)

    response = post(client_for(bob), f"{QUERIES}{job['id']}/cancel/", {})

    assert response.status_code == 409 and "already running" in response.json()["message"]
    assert ledger() == ["reserve"]


# --- CSV -----------------------------------------------------------------------------------------


def test_the_answer_downloads_as_a_csv_attachment_with_its_intervals(bob: User, bob_job: dict) -> None:
    response = client_for(bob).get(f"{QUERIES}{bob_job['id']}/result.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="query-{bob_job["id"]}-hr-census-adult.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "sex" and any(name.endswith("low (95%)") for name in rows[0])
    assert [row[0] for row in rows[1:]] == ["Female", "Male"]
    assert AuditEvent.objects.filter(action="query.download").count() == 1


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(
    alice: User, bob: User, adult: Dataset, bob_policy: Policy, django_capture_on_commit_callbacks
) -> None:
    keys = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "plain"]
    Column.objects.filter(dataset=adult, name="sex").update(categories=keys)
    with django_capture_on_commit_callbacks(execute=True):
        job = post(client_for(bob), QUERIES, body(sql="SELECT sex, COUNT(*) FROM adult GROUP BY sex")).json()

    text = client_for(bob).get(f"{QUERIES}{job['id']}/result.csv").content.decode()

    first_cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert sorted(first_cells) == sorted(["'" + key for key in keys[:4]] + ["plain"])


def test_a_query_without_an_answer_yet_has_no_csv(bob: User, bob_policy: Policy) -> None:
    job = post(client_for(bob), QUERIES, body()).json()

    response = client_for(bob).get(f"{QUERIES}{job['id']}/result.csv")

    assert response.status_code == 409 and "no answer" in response.json()["message"]


# --- schema --------------------------------------------------------------------------------------


def test_every_query_endpoint_is_in_the_openapi_schema(bob: User) -> None:
    response = client_for(bob).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    paths = json.loads(response.content)["paths"]
    assert {
        "/api/v1/queries/",
        "/api/v1/queries/preview/",
        "/api/v1/queries/{id}/",
        "/api/v1/queries/{id}/cancel/",
        "/api/v1/queries/{id}/result.csv",
    } <= set(paths)
    assert "post" in paths["/api/v1/queries/"] and "get" in paths["/api/v1/queries/"]
