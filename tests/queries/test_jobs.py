"""DP query jobs through the real services, compiler and noise, on a real PostgreSQL backend:
submitted (reserved) → claimed once → answered and charged once; memoized; cancelled; failed
before or after touching data; swept. The worker is this process (``query_run`` called directly);
tests/e2e/test_worker_queries.py does the same with real Celery workers."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError, Conflict
from apps.domains.models import Backend, Domain
from apps.privacy.accountant import user_balance
from apps.privacy.errors import AccessDenied
from apps.privacy.models import LedgerEntry, Policy
from apps.privacy.services import policy_save
from apps.queries.models import QueryJob
from apps.queries.plan import QueryRejected
from apps.queries.services import queries_sweep, query_cancel, query_preview, query_run, query_submit
from apps.usage.models import AuditEvent
from tests.factories import UserFactory
from tests.queries.census_backend import LEAKED, census_database, load_census

pytestmark = pytest.mark.django_db

GROUPED = "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex"


@pytest.fixture(scope="session")
def census_url(django_db_setup: None, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return census_database()


@pytest.fixture
def census(hr: Domain, alice: User, census_url: str) -> dict[str, Dataset]:
    return load_census(domain=hr, owner=alice, url=census_url)


@pytest.fixture
def adult(census: dict[str, Dataset]) -> Dataset:
    return census["adult"]


@pytest.fixture
def bob_policy(hr: Domain, census: dict[str, Dataset], alice: User, bob: User) -> Policy:
    return policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="3", delta_budget="0.00001")


def submit(user: User, dataset: Dataset, sql: str = GROUPED, **amounts: str) -> QueryJob:
    amounts = {"mechanism": "laplace", "epsilon": "0.5", "rho": None, "delta": None, **amounts}
    return query_submit(actor=user, dataset=dataset, sql=sql, **amounts)


def ledger(job: QueryJob | None = None) -> list[str]:
    entries = LedgerEntry.objects.order_by("id")
    if job is not None:
        entries = entries.filter(reference=f"query:{job.pk}")
    return list(entries.values_list("kind", flat=True))


def actions() -> list[str]:
    return list(AuditEvent.objects.filter(action__startswith="query.").order_by("id").values_list("action", flat=True))


def reloaded(job: QueryJob) -> QueryJob:
    return QueryJob.objects.get(pk=job.pk)


# --- submit and run ------------------------------------------------------------------------------


def test_a_submitted_query_is_queued_with_its_cost_reserved_and_audited(bob: User, adult: Dataset, bob_policy) -> None:
    job = submit(bob, adult)

    assert job.status == QueryJob.Status.QUEUED
    assert job.reservation.kind == LedgerEntry.Kind.RESERVE
    assert job.reservation.epsilon == Decimal("0.5")
    assert job.reservation.reference == f"query:{job.pk}"
    assert actions() == ["query.submit"]
    assert user_balance(user=bob, dataset=adult).reserved.epsilon == Decimal("0.5")


def test_a_queued_job_runs_to_a_noisy_answer_with_intervals_and_is_charged_once(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = reloaded(query_run(job_id=submit(bob, adult).pk))

    assert job.status == QueryJob.Status.SUCCEEDED, job.error
    assert job.attempts == 1 and job.finished_at is not None
    assert job.result["columns"][0] == "sex"
    assert [row[0] for row in job.result["rows"]] == ["Female", "Male"]
    assert all(isinstance(ci, list) for ci in job.result["ci"][0][1:])
    assert ledger(job) == ["reserve", "commit"]
    balance = user_balance(user=bob, dataset=adult)
    assert (balance.spent.epsilon, balance.reserved.epsilon) == (Decimal("0.5"), Decimal(0))
    assert actions() == ["query.submit", "query.finish"]


def test_a_second_delivery_of_a_finished_job_changes_nothing(bob: User, adult: Dataset, bob_policy) -> None:
    job = submit(bob, adult)
    query_run(job_id=job.pk)
    first = reloaded(job)

    assert query_run(job_id=job.pk) is None

    again = reloaded(job)
    assert again.result == first.result and again.attempts == 1
    assert ledger(job) == ["reserve", "commit"]


def test_a_delivery_of_a_job_that_does_not_exist_does_nothing(db: None) -> None:
    assert query_run(job_id=987654) is None


def test_gaussian_queries_are_charged_in_rho(bob: User, adult: Dataset, bob_policy) -> None:
    job = submit(bob, adult, mechanism="gaussian", epsilon=None, rho="0.05")
    query_run(job_id=job.pk)

    job = reloaded(job)
    assert job.status == QueryJob.Status.SUCCEEDED, job.error
    assert (job.reservation.epsilon, job.reservation.rho) == (Decimal(0), Decimal("0.05"))


# --- refused before anything ---------------------------------------------------------------------


def test_a_rejected_query_is_refused_before_anything_is_reserved(bob: User, adult: Dataset, bob_policy) -> None:
    with pytest.raises(QueryRejected):
        submit(bob, adult, sql="SELECT * FROM adult")

    assert not QueryJob.objects.exists()
    assert ledger() == []
    refusal = AuditEvent.objects.get(action="query.refuse")
    assert refusal.outcome == AuditEvent.Outcome.REFUSED and refusal.details["code"] == "query_rejected"


@pytest.mark.parametrize(
    ("amounts", "field"),
    [
        ({"epsilon": "-1"}, "epsilon"),
        ({"epsilon": "0"}, "epsilon"),
        ({"epsilon": "NaN"}, "epsilon"),
        ({"epsilon": "Infinity"}, "epsilon"),
        ({"epsilon": "lots"}, "epsilon"),
        ({"epsilon": None}, "epsilon"),
        ({"epsilon": "0.5", "delta": "-0.1"}, "delta"),
        ({"epsilon": "0.5", "delta": "1"}, "delta"),
        ({"epsilon": "0.5", "rho": "0.1"}, "rho"),
        ({"mechanism": "gaussian", "epsilon": None, "rho": "0"}, "rho"),
        ({"mechanism": "synthesizer"}, "mechanism"),
    ],
)
def test_bad_amounts_are_refused_before_anything_is_reserved(
    bob: User, adult: Dataset, bob_policy, amounts: dict, field: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        submit(bob, adult, **amounts)

    assert refused.value.status_code == 400 and refused.value.field == field
    assert not QueryJob.objects.exists() and ledger() == []


def test_an_amount_above_the_policy_cap_is_refused_before_anything_is_reserved(
    hr: Domain, alice: User, bob: User, adult: Dataset
) -> None:
    policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="3", epsilon_per_release_cap="0.2")

    with pytest.raises(ApplicationError) as refused:
        submit(bob, adult, epsilon="0.5")

    assert refused.value.status_code == 400 and "at most epsilon 0.2" in refused.value.message
    assert not QueryJob.objects.exists() and ledger() == []


def test_an_analyst_without_a_policy_is_refused_with_the_reason(bob: User, adult: Dataset) -> None:
    with pytest.raises(AccessDenied) as refused:
        submit(bob, adult)

    assert "no access to hr.census.adult" in refused.value.message
    assert not QueryJob.objects.exists() and ledger() == []
    assert AuditEvent.objects.get(action="query.refuse").outcome == AuditEvent.Outcome.DENIED


def test_a_query_over_budget_is_refused_and_nothing_is_reserved(
    hr: Domain, alice: User, bob: User, adult: Dataset
) -> None:
    policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="0.4")

    with pytest.raises(ApplicationError) as refused:
        submit(bob, adult, epsilon="0.5")

    assert refused.value.code == "budget_exhausted"
    assert not QueryJob.objects.exists() and ledger() == []


# --- memoization ---------------------------------------------------------------------------------


def test_the_same_query_again_returns_the_stored_answer_for_free(bob: User, adult: Dataset, bob_policy) -> None:
    first = submit(bob, adult)
    query_run(job_id=first.pk)

    again = submit(bob, adult, sql="select SEX, count(*), avg(AGE)\n  from ADULT group by SEX")

    assert again.status == QueryJob.Status.SUCCEEDED
    assert again.memo_source_id == first.pk and again.reservation is None
    assert again.result == reloaded(first).result
    assert ledger() == ["reserve", "commit"]
    assert actions() == ["query.submit", "query.finish", "query.memo_hit"]


def test_the_preview_says_when_the_answer_would_be_free(bob: User, adult: Dataset, bob_policy) -> None:
    arguments = {"sql": GROUPED, "mechanism": "laplace", "epsilon": "0.5", "rho": None, "delta": None}
    before = query_preview(user=bob, dataset=adult, **arguments)
    query_run(job_id=submit(bob, adult).pk)
    after = query_preview(user=bob, dataset=adult, **arguments)

    assert before["memoized"] is False and before["cost"].epsilon == Decimal("0.5") and before["allowed"]
    assert after["memoized"] is True and after["cost"].is_zero and after["allowed"]
    assert set(after["accuracy"]) == set(before["accuracy"])
    assert ledger() == ["reserve", "commit"]


@pytest.mark.parametrize(
    "change",
    [
        {"epsilon": "0.6"},
        {"sql": "SELECT sex, COUNT(*) FROM adult GROUP BY sex"},
        {"mechanism": "gaussian", "epsilon": None, "rho": "0.05"},
    ],
)
def test_any_different_query_is_charged_again(bob: User, adult: Dataset, bob_policy, change: dict) -> None:
    query_run(job_id=submit(bob, adult).pk)

    other = submit(bob, adult, **change)

    assert other.memo_source is None and other.status == QueryJob.Status.QUEUED
    assert ledger() == ["reserve", "commit", "reserve"]


def test_after_the_dataset_changes_the_same_query_is_charged_again(
    alice: User, bob: User, adult: Dataset, bob_policy
) -> None:
    query_run(job_id=submit(bob, adult).pk)
    Dataset.objects.filter(pk=adult.pk).update(version=adult.version + 1)

    again = submit(bob, Dataset.objects.get(pk=adult.pk))

    assert again.memo_source is None and ledger() == ["reserve", "commit", "reserve"]


def test_another_analyst_does_not_get_bob_s_answer_for_free(
    hr: Domain, alice: User, bob: User, adult: Dataset, bob_policy
) -> None:
    dave = UserFactory(username="dave")
    dave.groups.add(hr.visible_to_groups.first())
    policy_save(actor=alice, scope=hr, user=dave, epsilon_budget="3")
    query_run(job_id=submit(bob, adult).pk)

    dave_job = submit(dave, adult)

    assert dave_job.memo_source is None and dave_job.reservation is not None


# --- failures ------------------------------------------------------------------------------------


def test_a_backend_that_cannot_be_reached_fails_the_job_and_gives_the_budget_back(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = submit(bob, adult)
    Backend.objects.filter(pk=adult.backend_id).update(url="postgresql+psycopg://postgres@127.0.0.1:1/census")

    query_run(job_id=job.pk)

    job = reloaded(job)
    assert job.status == QueryJob.Status.FAILED and "backend could not be reached" in job.error
    assert "127.0.0.1" not in job.error and ":1" not in job.error, "infrastructure detail is for operators only"
    assert job.result is None
    assert ledger(job) == ["reserve", "release"]
    assert user_balance(user=bob, dataset=adult).epsilon_used == 0


def test_a_dataset_redeclared_after_submission_fails_the_job_and_gives_the_budget_back(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = submit(bob, adult)
    Dataset.objects.filter(pk=adult.pk).update(version=adult.version + 1)

    query_run(job_id=job.pk)

    job = reloaded(job)
    assert job.status == QueryJob.Status.FAILED and "submit it again" in job.error
    assert ledger(job) == ["reserve", "release"]


def test_a_backend_failing_mid_query_keeps_the_job_charged_and_never_leaks_the_value_it_quoted(
    bob: User, census: dict[str, Dataset], bob_policy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job = submit(bob, census["adult_leaky"], sql="SELECT COUNT(*), AVG(age) FROM adult_leaky")

    query_run(job_id=job.pk)

    job = reloaded(job)
    assert job.status == QueryJob.Status.FAILED
    assert "could not compute the aggregates" in job.error
    assert ledger(job) == ["reserve", "commit"]
    for text in (job.error, caplog.text, str(list(AuditEvent.objects.values_list("details", flat=True)))):
        assert LEAKED not in text and "4711" not in text


# --- duplicate deliveries and dead workers -------------------------------------------------------


def test_a_delivery_that_finds_the_job_running_with_a_live_heartbeat_leaves_it_alone(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = submit(bob, adult)
    QueryJob.objects.filter(pk=job.pk).update(status=QueryJob.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())

    assert query_run(job_id=job.pk) is None

    assert reloaded(job).status == QueryJob.Status.RUNNING
    assert ledger(job) == ["reserve"]


def test_a_delivery_that_finds_the_job_running_after_its_worker_died_fails_it_charged(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = submit(bob, adult)
    stopped = timezone.now() - timedelta(minutes=10)
    QueryJob.objects.filter(pk=job.pk).update(status=QueryJob.Status.RUNNING, attempts=1, heartbeat_at=stopped)

    query_run(job_id=job.pk)

    job = reloaded(job)
    assert job.status == QueryJob.Status.FAILED and "worker stopped" in job.error
    assert job.attempts == 1 and job.result is None
    assert ledger(job) == ["reserve", "commit"]


# --- cancel --------------------------------------------------------------------------------------


def test_cancelling_a_queued_job_releases_its_reservation_and_it_never_runs(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = submit(bob, adult)

    cancelled = query_cancel(actor=bob, job=job)
    query_run(job_id=job.pk)

    assert cancelled.status == QueryJob.Status.CANCELLED
    assert reloaded(job).status == QueryJob.Status.CANCELLED and reloaded(job).attempts == 0
    assert ledger(job) == ["reserve", "release"]
    assert actions() == ["query.submit", "query.cancel"]


def test_a_running_job_cannot_be_cancelled(bob: User, adult: Dataset, bob_policy) -> None:
    job = submit(bob, adult)
    QueryJob.objects.filter(pk=job.pk).update(status=QueryJob.Status.RUNNING, heartbeat_at=timezone.now())

    with pytest.raises(Conflict) as refused:
        query_cancel(actor=bob, job=job)

    assert "already running" in refused.value.message
    assert ledger(job) == ["reserve"]


def test_a_finished_job_cannot_be_cancelled(bob: User, adult: Dataset, bob_policy) -> None:
    job = submit(bob, adult)
    query_run(job_id=job.pk)

    with pytest.raises(Conflict):
        query_cancel(actor=bob, job=job)

    assert ledger(job) == ["reserve", "commit"]


# --- transactions and the sweeper ----------------------------------------------------------------


def test_a_submission_enqueues_only_once_its_transaction_commits(
    bob: User, adult: Dataset, bob_policy, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        submit(bob, adult)
        raise RuntimeError("the caller's transaction rolls back")
    assert callbacks == []
    assert not QueryJob.objects.exists() and ledger() == []


def test_the_sweeper_sends_again_a_job_the_broker_lost(bob: User, adult: Dataset, bob_policy, settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    job = submit(bob, adult)
    QueryJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    assert queries_sweep() == {"resent": 1, "failed": 0}

    job = reloaded(job)
    assert job.status == QueryJob.Status.SUCCEEDED, job.error
    assert ledger(job) == ["reserve", "commit"]
    assert queries_sweep() == {"resent": 0, "failed": 0}


def test_the_sweeper_leaves_recent_and_running_jobs_alone(bob: User, adult: Dataset, bob_policy) -> None:
    queued = submit(bob, adult)
    running = submit(bob, adult, epsilon="0.6")
    QueryJob.objects.filter(pk=running.pk).update(status=QueryJob.Status.RUNNING, heartbeat_at=timezone.now())

    assert queries_sweep() == {"resent": 0, "failed": 0}
    assert reloaded(queued).status == QueryJob.Status.QUEUED
    assert reloaded(running).status == QueryJob.Status.RUNNING


def test_the_sweeper_fails_a_running_job_whose_worker_stopped_and_keeps_it_charged(
    bob: User, adult: Dataset, bob_policy
) -> None:
    job = submit(bob, adult)
    stopped = timezone.now() - timedelta(minutes=10)
    QueryJob.objects.filter(pk=job.pk).update(status=QueryJob.Status.RUNNING, attempts=1, heartbeat_at=stopped)

    assert queries_sweep() == {"resent": 0, "failed": 1}

    job = reloaded(job)
    assert job.status == QueryJob.Status.FAILED and job.result is None
    assert ledger(job) == ["reserve", "commit"]
    assert queries_sweep() == {"resent": 0, "failed": 0}
