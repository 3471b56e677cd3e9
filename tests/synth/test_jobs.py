"""Synthetic-data jobs through the services, on a real SQLite backend: submitted, run, stored,
charged; refused configurations; cancelling; the sweeper; the owner-funded preview."""

from datetime import timedelta
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from apps.catalog.models import Column, Dataset
from apps.core.errors import ApplicationError, Conflict, Forbidden
from apps.privacy.models import BudgetAccount, LedgerEntry
from apps.privacy.services import policy_save
from apps.synth import services, storage
from apps.synth.models import SynthJob
from apps.synth.services import synth_cancel, synth_preview_refresh, synth_run, synth_submit, synth_sweep
from apps.usage.models import AuditEvent
from tests.factories import ColumnFactory
from tests.synth.conftest import COLUMNS

pytestmark = pytest.mark.django_db


def submit(bob, dataset, **changes) -> SynthJob:
    arguments = {"synthesizer": "mst", "columns": COLUMNS, "epsilon": "0.5", "delta": "0.000001", "rows": 300}
    return synth_submit(actor=bob, dataset=dataset, **{**arguments, **changes})


def ledger(job: SynthJob) -> list[str]:
    return list(
        LedgerEntry.objects.filter(reservation__isnull=True, pk=job.reservation_id)
        .union(LedgerEntry.objects.filter(reservation_id=job.reservation_id))
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_a_sample_is_generated_stored_catalogued_and_charged_exactly_what_the_synthesizer_spent(
    bob, bob_policy, adult_backend
) -> None:
    job = submit(bob, adult_backend)
    assert job.status == SynthJob.Status.QUEUED and ledger(job) == ["reserve"]

    job = synth_run(job_id=job.pk)
    assert synth_run(job_id=job.pk) is None, "a job delivered twice runs once"

    assert job.status == SynthJob.Status.SUCCEEDED, job.error
    assert job.attempts == 1 and ledger(job) == ["reserve", "commit"]
    commit = LedgerEntry.objects.get(reservation_id=job.reservation_id)
    assert commit.rho == Decimal(job.details["spent_rho"]) and commit.rho > 0
    assert commit.epsilon == 0 and commit.mechanism == "synthesizer"
    frame = pq.read_table(storage.sample_path(job.pk)).to_pandas()
    assert list(frame.columns) == COLUMNS and len(frame) == 300 == job.sample_rows
    assert set(frame["sex"].dropna()) <= {"Female", "Male"}
    assert set(frame["salary"].dropna()) <= {"<=50K", ">50K"}
    assert frame["age"].dropna().between(17, 90).all()
    output = job.output
    assert output.kind == Dataset.Kind.SYNTHETIC and output.derived_from_id == adult_backend.pk
    assert list(output.columns.values_list("name", flat=True)) == COLUMNS
    assert output.synth_origin == job
    assert AuditEvent.objects.filter(action="synth.submit", object_id=str(job.pk)).count() == 1
    assert AuditEvent.objects.filter(action="synth.finish", object_id=str(job.pk)).count() == 1
    assert job.utility is not None and set(job.utility["one_way"]) == set(COLUMNS)


def add_undeclared_column(dataset: Dataset) -> None:
    ColumnFactory(dataset=dataset, name="notes", position=99, logical_type=Column.LogicalType.STRING, categories=[])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"columns": ["age", "notes"]}, "notes"),
        ({"synthesizer": "patectgan"}, "PATECTGAN is not offered"),
        ({"synthesizer": "nonsense"}, "Unknown synthesizer"),
        ({"rows": 0}, "rows must be a whole number"),
        ({"rows": 10**9}, "rows must be a whole number"),
        ({"epsilon": "-1"}, "epsilon must be above zero"),
        ({"epsilon": "NaN"}, "epsilon must be a finite number"),
        ({"epsilon": "2"}, "has 1 left"),
        ({"columns": ["age", "age"]}, "named twice"),
        ({"columns": ["person_id"]}, "person_id"),
    ],
)
def test_a_refused_configuration_charges_nothing_and_leaves_one_audit_row(
    bob, bob_policy, adult_backend, changes, message
) -> None:
    add_undeclared_column(adult_backend)
    with pytest.raises(ApplicationError, match=message) as refusal:
        submit(bob, adult_backend, **changes)
    assert 400 <= refusal.value.status_code < 500
    assert not SynthJob.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert AuditEvent.objects.filter(action="synth.refuse").count() == 1


def test_epsilon_above_the_policys_per_release_cap_is_refused_and_charges_nothing(
    alice, bob, funded_adult, adult_backend
) -> None:
    policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_budget="5", delta_budget="0.000001",
                epsilon_per_release_cap="0.2")  # fmt: skip
    with pytest.raises(ApplicationError, match="may cost at most epsilon 0.2"):
        submit(bob, adult_backend, epsilon="0.5")
    assert not SynthJob.objects.exists() and not LedgerEntry.objects.exists()


def test_a_model_too_big_for_memory_is_refused_before_anything_is_reserved(
    bob, bob_policy, adult_backend, settings
) -> None:
    settings.PORTAL_SYNTH_MAX_ROWS = 10**9
    with pytest.raises(ApplicationError, match="GiB"):
        submit(bob, adult_backend, columns=None, rows=500_000_000)
    assert not LedgerEntry.objects.exists()


def test_cancelling_a_queued_job_releases_its_reservation(bob, bob_policy, adult_backend) -> None:
    job = submit(bob, adult_backend)
    synth_cancel(actor=bob, job=job)
    job.refresh_from_db()
    assert job.status == SynthJob.Status.CANCELLED
    assert ledger(job) == ["reserve", "release"]
    assert synth_run(job_id=job.pk) is None
    with pytest.raises(Conflict):
        synth_cancel(actor=bob, job=job)


def test_only_the_submitter_can_cancel(alice, bob, bob_policy, adult_backend) -> None:
    job = submit(bob, adult_backend)
    with pytest.raises(Forbidden):
        synth_cancel(actor=alice, job=job)
    assert SynthJob.objects.get(pk=job.pk).status == SynthJob.Status.QUEUED
    denial = AuditEvent.objects.get(action="synth.cancel_refuse")
    assert denial.outcome == AuditEvent.Outcome.DENIED and denial.actor == alice


@pytest.mark.parametrize("clicked_at", ["the first step", "Done"])
def test_cancelling_a_running_job_after_it_read_data_ends_it_cancelled_and_charged(
    bob, bob_policy, adult_backend, monkeypatch, clicked_at
) -> None:
    job = submit(bob, adult_backend)
    original = services.Progress.__call__

    def user_clicks_cancel_while_it_runs(self, phase, fraction, **kwargs):
        if clicked_at in ("the first step", phase) and not SynthJob.objects.get(pk=job.pk).cancel_requested:
            synth_cancel(actor=bob, job=SynthJob.objects.get(pk=job.pk))
        return original(self, phase, fraction, **kwargs)

    monkeypatch.setattr(services.Progress, "__call__", user_clicks_cancel_while_it_runs)
    job = synth_run(job_id=job.pk)

    assert job.status == SynthJob.Status.CANCELLED and "stays charged" in job.error
    assert ledger(job) == ["reserve", "commit"]
    assert not storage.sample_exists(job.pk) and job.output is None


def test_the_sweeper_fails_a_job_whose_worker_died_once_and_charges_it_once(bob, bob_policy, adult_backend) -> None:
    job = submit(bob, adult_backend)
    assert services._claim(job.pk)
    services._touch(job.pk)
    SynthJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert synth_sweep()["failed"] == 1
    assert synth_sweep()["failed"] == 0
    assert synth_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == SynthJob.Status.FAILED and "worker stopped" in job.error
    assert ledger(job) == ["reserve", "commit"]
    assert AuditEvent.objects.filter(action="synth.finish", object_id=str(job.pk)).count() == 1


def test_a_job_whose_worker_died_before_reading_data_is_released(bob, bob_policy, adult_backend) -> None:
    job = submit(bob, adult_backend)
    assert services._claim(job.pk)
    SynthJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert synth_sweep()["failed"] == 1
    assert ledger(job) == ["reserve", "release"]


def test_the_sweeper_sends_again_jobs_queued_too_long(bob, bob_policy, adult_backend, settings) -> None:
    job = submit(bob, adult_backend)
    settings.PORTAL_SYNTH_RESEND_AFTER_SECONDS = 0
    SynthJob.objects.filter(pk=job.pk).update(sent_at=None)
    assert synth_sweep()["resent"] == 1
    assert SynthJob.objects.get(pk=job.pk).sent_at is not None


def test_only_owners_refresh_the_preview_and_a_denial_is_audited(bob, bob_policy, adult_backend) -> None:
    with pytest.raises(Forbidden):
        synth_preview_refresh(actor=bob, dataset=adult_backend)
    assert not LedgerEntry.objects.exists() and not SynthJob.objects.exists()
    denial = AuditEvent.objects.get(action="synth.preview_refuse")
    assert denial.outcome == AuditEvent.Outcome.DENIED and denial.actor == bob


def test_a_domain_with_its_own_queue_gets_its_synthesis_jobs_there(
    bob, bob_policy, adult_backend, settings, django_capture_on_commit_callbacks
) -> None:
    import redis

    from tests.e2e.workers import flush_broker

    settings.PORTAL_DOMAIN_QUEUES = ["hr"]
    flush_broker()
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(bob, adult_backend)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert broker.llen("synthesis.hr") == 1 and broker.llen("synthesis") == 0
    assert SynthJob.objects.get(pk=job.pk).sent_at is not None
    flush_broker()


def test_a_sample_of_another_size_than_asked_is_never_stored_or_catalogued(
    bob, bob_policy, adult_backend, monkeypatch
) -> None:
    import pandas as pd

    from apps.privacy.composition import PrivacyCost
    from apps.synth import engine

    job = submit(bob, adult_backend, rows=300)

    def synthesizer_returning_7_rows(**kwargs):
        frame = pd.DataFrame({"age": [30] * 7, "sex": ["Male"] * 7, "salary": [">50K"] * 7})
        return engine.SynthResult(frame=frame, spent=PrivacyCost(rho=job.reservation.rho), details={})

    monkeypatch.setattr(engine, "synthesize", synthesizer_returning_7_rows)
    job = synth_run(job_id=job.pk)

    assert job.status == SynthJob.Status.FAILED and job.sample_rows is None and job.output is None
    assert not storage.sample_exists(job.pk) and not Dataset.objects.filter(kind=Dataset.Kind.SYNTHETIC).exists()
    assert ledger(job) == ["reserve", "commit"], "it read the data: charged, though nothing was released"


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_of_the_preview_at_once_make_one_preview_and_one_charge(alice, adult_backend, monkeypatch):
    import threading

    from django.db import connection

    inside, go = threading.Event(), threading.Event()
    reserve = services.budget_reserve_dataset_wide

    def slow_reserve(**kwargs):
        inside.set()
        go.wait(5)
        return reserve(**kwargs)

    monkeypatch.setattr(services, "budget_reserve_dataset_wide", slow_reserve)
    monkeypatch.setattr(services, "_send", lambda job_id, queue: True)
    outcomes: list[str] = []

    def owner_clicks_refresh() -> None:
        try:
            synth_preview_refresh(actor=alice, dataset=adult_backend)
            outcomes.append("queued")
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    first = threading.Thread(target=owner_clicks_refresh)
    first.start()
    assert inside.wait(5)
    inside.clear()
    second = threading.Thread(target=owner_clicks_refresh)
    second.start()
    inside.wait(0.5)  # without a lock the second click gets as far as the reservation
    go.set()
    first.join(10)
    second.join(10)
    assert sorted(outcomes) == ["queued", "refused"]
    assert SynthJob.objects.count() == 1 and list(LedgerEntry.objects.values_list("kind", flat=True)) == ["reserve"]


def test_a_job_the_sweeper_released_just_before_it_reads_data_reads_nothing(
    bob, bob_policy, adult_backend, monkeypatch
) -> None:
    from apps.synth import engine

    job = submit(bob, adult_backend)
    backend_asked: list[str] = []
    monkeypatch.setattr(engine, "synthesize", lambda **kwargs: backend_asked.append("synthesize"))

    def sweeper_runs_right_after_the_last_check(self) -> None:
        SynthJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        synth_sweep()

    monkeypatch.setattr(services.Progress, "check", sweeper_runs_right_after_the_last_check)
    synth_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == SynthJob.Status.FAILED and "had not read any data" in job.error
    assert ledger(job) == ["reserve", "release"] and not job.data_touched
    assert backend_asked == [], "released, so the backend must not be asked for anything"


def test_the_preview_is_reserved_and_released_on_the_dataset_wide_budget_only(alice, bob, adult_backend) -> None:
    from apps.privacy.accountant import dataset_balance, user_balance

    policy_save(actor=alice, scope=adult_backend, user=alice, epsilon_budget="1", delta_budget="0.000001")
    job = synth_preview_refresh(actor=alice, dataset=adult_backend, epsilon="2")  # above alice's own budget

    assert dataset_balance(adult_backend).reserved.rho == job.reservation.rho > 0
    mine = user_balance(user=alice, dataset=adult_backend)
    assert mine.reserved.rho == 0 and mine.spent.rho == 0 and mine.epsilon_used == 0
    synth_cancel(actor=alice, job=job)
    assert dataset_balance(adult_backend).reserved.rho == 0 and ledger(job) == ["reserve", "release"]
    assert not BudgetAccount.objects.filter(user=alice).exists()
