"""Synthetic-data jobs through a real ``celery worker`` process on Redis, against the test database
and a real PostgreSQL backend: the pool process running a job is killed (SIGKILL) while the backend
computes its counts; the broker hands the job to a fresh pool process, which leaves it alone; the
sweeper then ends it. Afterwards: one terminal state, one charge, one audit row of its end."""

import os
import signal
import time
from pathlib import Path

import pytest

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Domain
from apps.privacy.models import LedgerEntry, Policy
from apps.privacy.services import policy_save
from apps.synth.models import SynthJob
from apps.synth.services import synth_submit, synth_sweep
from apps.usage.models import AuditEvent
from tests.e2e.test_worker_queries import pool_processes
from tests.e2e.workers import celery_worker, flush_broker, wait_until
from tests.queries.census_backend import census_database, load_census

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def census(hr: Domain, alice: User) -> dict[str, Dataset]:
    return load_census(domain=hr, owner=alice, url=census_database())


@pytest.fixture
def bob_policy(hr: Domain, census: dict[str, Dataset], alice: User, bob: User) -> Policy:
    return policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="5", delta_budget="0.00001")


def ledger(job: SynthJob) -> list[str]:
    return list(LedgerEntry.objects.filter(reference=f"synth:{job.pk}").order_by("id").values_list("kind", flat=True))


def test_a_worker_killed_mid_job_ends_the_job_once_failed_and_charged_once(
    bob: User, census, bob_policy, settings, tmp_path: Path, monkeypatch
) -> None:
    settings.PORTAL_SYNTH_STALLED_AFTER_SECONDS = 1
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    flush_broker()
    log = tmp_path / "worker.log"
    with celery_worker("synthesis", log_path=log) as worker:
        # adult_slow pauses every backend query: the job is reading counts when its process dies.
        job = synth_submit(actor=bob, dataset=census["adult_slow"], synthesizer="mst", columns=["sex", "salary"],
                           epsilon="0.5", delta="0.000001", rows=100)  # fmt: skip
        wait_until(lambda: SynthJob.objects.filter(pk=job.pk, data_touched=True).exists(), timeout=30)
        (child,) = pool_processes(worker.pid)
        os.kill(child, signal.SIGKILL)
        # acks_late + reject_on_worker_lost: a fresh pool process gets the job again, finds it
        # running, and leaves it alone: a job is never run twice.
        wait_until(lambda: "succeeded in" in log.read_text(), timeout=30)
        assert worker.poll() is None
        job.refresh_from_db()
        assert job.status == SynthJob.Status.RUNNING and job.attempts == 1

        time.sleep(settings.PORTAL_SYNTH_STALLED_AFTER_SECONDS + 0.5)
        assert synth_sweep()["failed"] == 1
        assert synth_sweep()["failed"] == 0

    job.refresh_from_db()
    assert job.status == SynthJob.Status.FAILED and "worker stopped" in job.error, log.read_text()[-3000:]
    assert job.attempts == 1 and job.output is None
    assert ledger(job) == ["reserve", "commit"]
    assert AuditEvent.objects.filter(action="synth.finish", object_id=str(job.pk)).count() == 1
