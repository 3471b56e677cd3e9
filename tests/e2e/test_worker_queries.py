"""DP query jobs through real ``celery worker`` processes on Redis, against the test database and a
real PostgreSQL backend: a query answered by a worker; a worker killed (SIGKILL) mid-query; the same
job delivered twice; jobs lost by the broker and found again by the sweeper; the broker down at
submission; a submission rolled back. Afterwards: each job ended once, charged at most once."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connections, transaction

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.domains.models import Domain
from apps.privacy.models import LedgerEntry, Policy
from apps.privacy.services import policy_save
from apps.queries.models import QueryJob
from apps.queries.services import queries_sweep, query_run, query_submit
from apps.queries.tasks import query_run_task
from apps.usage.models import AuditEvent
from tests.e2e.workers import ROOT, celery_worker, flush_broker, wait_until, worker_env
from tests.queries.census_backend import census_database, load_census

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GROUPED = "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex"
SLOW = "SELECT sex, COUNT(*) FROM adult_slow GROUP BY sex"


@pytest.fixture
def census(hr: Domain, alice: User) -> dict[str, Dataset]:
    return load_census(domain=hr, owner=alice, url=census_database())


@pytest.fixture
def bob_policy(hr: Domain, census: dict[str, Dataset], alice: User, bob: User) -> Policy:
    return policy_save(actor=alice, scope=hr, user=bob, epsilon_budget="5", delta_budget="0.00001")


def submit(bob: User, dataset: Dataset, sql: str = GROUPED, epsilon: str = "0.5") -> QueryJob:
    return query_submit(actor=bob, dataset=dataset, sql=sql, mechanism="laplace", epsilon=epsilon, rho=None, delta=None)


def finished(job: QueryJob) -> bool:
    job.refresh_from_db()
    return job.is_finished


def ledger(job: QueryJob) -> list[str]:
    return list(LedgerEntry.objects.filter(reference=f"query:{job.pk}").order_by("id").values_list("kind", flat=True))


def queued_messages(queue: str = "queries") -> int:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue)


def pool_processes(pid: int) -> list[int]:
    """The worker's pool processes (its children), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def test_a_real_worker_answers_a_query_and_charges_it_once(bob: User, census, bob_policy, tmp_path: Path) -> None:
    flush_broker()
    log = tmp_path / "worker.log"
    with celery_worker("queries", log_path=log):
        job = submit(bob, census["adult"])
        wait_until(lambda: finished(job))

    assert job.status == QueryJob.Status.SUCCEEDED, (job.error, log.read_text()[-3000:])
    assert [row[0] for row in job.result["rows"]] == ["Female", "Male"]
    assert job.attempts == 1
    assert ledger(job) == ["reserve", "commit"]


@pytest.mark.parametrize("victim", ["the pool process running the query", "the whole worker"])
def test_a_worker_killed_mid_query_ends_the_job_once_failed_and_charged_once(
    bob: User, census, bob_policy, settings, tmp_path: Path, victim: str
) -> None:
    settings.PORTAL_QUERY_STALLED_AFTER_SECONDS = 3
    flush_broker()
    log = tmp_path / "worker.log"
    with celery_worker("queries", log_path=log) as worker:
        job = submit(bob, census["adult_slow"], sql=SLOW)
        wait_until(lambda: QueryJob.objects.get(pk=job.pk).status == QueryJob.Status.RUNNING)
        if victim == "the whole worker":
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        else:
            (child,) = pool_processes(worker.pid)
            os.kill(child, signal.SIGKILL)
            # acks_late + reject_on_worker_lost: the broker hands the job to a fresh pool process,
            # which finds it running and leaves it alone: it is never run twice, so a job that kills
            # its worker every time stops after one attempt.
            wait_until(lambda: "succeeded in" in log.read_text(), timeout=30)
            assert worker.poll() is None
        job.refresh_from_db()
        assert job.status == QueryJob.Status.RUNNING and job.attempts == 1

        # Its heartbeat stopped with its process: the sweeper ends it.
        time.sleep(settings.PORTAL_QUERY_STALLED_AFTER_SECONDS + 0.5)
        assert queries_sweep()["failed"] == 1
        time.sleep(1)

    job.refresh_from_db()
    assert job.status == QueryJob.Status.FAILED and "worker stopped" in job.error
    assert job.attempts == 1 and job.result is None
    assert ledger(job) == ["reserve", "commit"]
    assert AuditEvent.objects.filter(action="query.finish", object_id=str(job.pk)).count() == 1


def test_the_same_job_delivered_twice_runs_once(bob: User, census, bob_policy, tmp_path: Path) -> None:
    flush_broker()
    job = submit(bob, census["adult"])
    query_run_task.apply_async(args=[job.pk], queue="queries")
    assert queued_messages() == 2

    log = tmp_path / "worker.log"
    with celery_worker("queries", concurrency=2, log_path=log):
        wait_until(lambda: finished(job))
        wait_until(lambda: log.read_text().count("succeeded in") == 2, timeout=30)

    job.refresh_from_db()
    assert job.status == QueryJob.Status.SUCCEEDED, job.error
    assert job.attempts == 1
    assert ledger(job) == ["reserve", "commit"]
    assert AuditEvent.objects.filter(action="query.finish", object_id=str(job.pk)).count() == 1


def test_jobs_the_broker_lost_are_all_finished_by_the_sweeper_and_none_runs_twice(
    bob: User, census, bob_policy, settings, tmp_path: Path
) -> None:
    flush_broker()
    jobs = [submit(bob, census["adult"], epsilon=epsilon) for epsilon in ("0.1", "0.2", "0.3", "0.4")]
    assert queued_messages() == 4
    flush_broker()  # Redis restarted: it kept nothing

    settings.PORTAL_QUERY_RESEND_AFTER_SECONDS = 0
    assert queries_sweep()["resent"] == 4
    assert queries_sweep()["resent"] == 4  # sent twice over: a double delivery must be harmless
    with celery_worker("queries", concurrency=2, log_path=tmp_path / "worker.log"):
        wait_until(lambda: all(finished(job) for job in jobs))
        wait_until(lambda: queued_messages() == 0)

    for job in jobs:
        assert job.status == QueryJob.Status.SUCCEEDED, job.error
        assert job.attempts == 1
        assert ledger(job) == ["reserve", "commit"]
    assert queries_sweep() == {"resent": 0, "failed": 0}


def test_a_job_submitted_while_the_broker_is_down_is_kept_and_sent_later(
    bob: User, census, bob_policy, settings, tmp_path: Path
) -> None:
    env = {**worker_env(), "CELERY_BROKER_URL": "redis://127.0.0.1:1/15"}
    script = (
        "import django; django.setup()\n"
        "from apps.accounts.models import User\n"
        "from apps.catalog.models import Dataset\n"
        "from apps.queries.services import query_submit\n"
        "bob, adult = User.objects.get(username='bob'), Dataset.objects.get(address='hr.census.adult')\n"
        f"job = query_submit(actor=bob, dataset=adult, sql={GROUPED!r}, mechanism='laplace', epsilon='0.5',"
        " rho=None, delta=None)\n"
        "print(job.pk)\n"
    )
    started = time.monotonic()
    submitted = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    assert time.monotonic() - started < 30
    job = QueryJob.objects.get(pk=int(submitted.stdout.split()[-1]))
    assert job.status == QueryJob.Status.QUEUED and job.sent_at is None
    assert ledger(job) == ["reserve"]

    flush_broker()
    settings.PORTAL_QUERY_RESEND_AFTER_SECONDS = 0
    with celery_worker("queries", log_path=tmp_path / "worker.log"):
        assert queries_sweep()["resent"] == 1
        wait_until(lambda: finished(job))

    assert job.status == QueryJob.Status.SUCCEEDED, job.error
    assert ledger(job) == ["reserve", "commit"]


def test_a_submission_whose_transaction_rolls_back_sends_nothing(bob: User, census, bob_policy) -> None:
    flush_broker()
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(bob, census["adult"])
        raise RuntimeError("the caller's transaction rolls back")

    assert queued_messages() == 0
    assert not QueryJob.objects.exists() and not LedgerEntry.objects.exists()

    job = submit(bob, census["adult"])
    assert queued_messages() == 1
    assert QueryJob.objects.get(pk=job.pk).sent_at is not None
    assert LedgerEntry.objects.get().epsilon == Decimal("0.5")


def test_a_domain_with_its_own_queue_gets_its_query_jobs_there(bob: User, census, bob_policy, settings) -> None:
    settings.PORTAL_DOMAIN_QUEUES = ["hr"]
    flush_broker()

    submit(bob, census["adult"])

    assert queued_messages("queries.hr") == 1
    assert queued_messages("queries") == 0


def test_a_long_healthy_query_beats_its_heartbeat_and_the_sweeper_leaves_it_alone(
    bob: User, census, bob_policy, settings
) -> None:
    settings.PORTAL_QUERY_HEARTBEAT_SECONDS = 0.2
    settings.PORTAL_QUERY_STALLED_AFTER_SECONDS = 1
    job = submit(bob, census["adult_slow"], sql=SLOW)
    sweeps: list[dict[str, int]] = []

    def sweep_while_it_runs() -> None:
        try:
            wait_until(lambda: QueryJob.objects.get(pk=job.pk).status == QueryJob.Status.RUNNING)
            for _ in range(4):
                time.sleep(1)
                sweeps.append(queries_sweep())
        finally:
            connections.close_all()

    sweeper = threading.Thread(target=sweep_while_it_runs)
    sweeper.start()
    query_run(job_id=job.pk)
    sweeper.join()

    job.refresh_from_db()
    assert job.status == QueryJob.Status.SUCCEEDED, job.error
    assert sweeps == [{"resent": 0, "failed": 0}] * 4
    assert job.heartbeat_at - job.started_at > timedelta(seconds=3)
    assert ledger(job) == ["reserve", "commit"]
