"""DP query jobs: preview, submit, run, cancel, sweep.

The database is the source of truth; the broker only carries a job's id, and may lose it.

- ``query_submit`` compiles the query (a refusal comes before anything else), then either finds the
  owner's identical earlier answer (same normalized SQL, parameters and dataset version: given again
  for free) or, in one transaction, creates the job, reserves its cost and writes the audit row; the
  job's id goes to the broker once that transaction has committed. If the broker is down, the job
  stays queued and the sweeper sends it later. Memoization is per analyst: another analyst's
  answer is not given for free, since each user's budget bounds what that user learns.
- ``query_run`` claims the job with a conditional UPDATE (queued → running): a duplicate delivery,
  or a second worker, finds nothing to claim and does nothing. A job is claimed at most once, so its
  noise is drawn at most once. The result and the budget commit are stored in one transaction.
  A failure before the backend was reached releases the reservation; once the aggregate query was
  sent, the job stays charged whatever happens (data may have been read).
- While it runs, a thread beats the job's ``heartbeat_at``. A running job whose heartbeat stopped
  (its worker was killed) is marked failed and stays charged, by the next delivery of its id (the
  broker redelivers unacknowledged tasks) or by ``queries_sweep``: it is never run again, so a job
  that kills its worker every time ends after one attempt. A delivery that finds the job running
  with a live heartbeat leaves it alone: it is a duplicate (the sweeper re-sends jobs that wait long
  in a busy queue), not a dead worker.
- ``query_cancel`` cancels a queued job and releases its reservation. A running job cannot be
  cancelled: its data is being read, so it will end on its own and stay charged.

Error messages and log lines never carry a data value: the connector withholds the backend's
messages, and unexpected errors are logged by class and traceback lines, without their text.
"""

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core import jobs
from apps.core.errors import ApplicationError, BackendUnavailable, Conflict, Forbidden
from apps.core.queues import queue_for
from apps.domains.connectors import BackendUnreachable, connector_for
from apps.domains.permissions import ensure_can_view
from apps.privacy.accountant import budget_commit, budget_release, budget_reserve, cost_preview, usable_policy
from apps.privacy.composition import ZERO, PrivacyCost
from apps.privacy.models import Mechanism
from apps.privacy.validation import parse_delta, parse_epsilon
from apps.queries.compiler import compile_dp_query, dialect_for, pushdown_sql
from apps.queries.mechanisms import accuracy, query_cost, release
from apps.queries.models import QueryJob
from apps.queries.plan import QueryPlan
from apps.queries.selectors import query_memo_source, query_result_csv
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

logger = logging.getLogger(__name__)

QUERY_MECHANISMS = (Mechanism.LAPLACE.value, Mechanism.GAUSSIAN.value)
WORKER_STOPPED = (
    "The worker stopped during the query. It is not run again; its cost stays charged because the "
    "backend may already have read the data."
)
UNEXPECTED = "The query failed unexpectedly; the worker's log has the details (never any data value)."


def heartbeat_seconds() -> float:
    return jobs.setting("PORTAL_QUERY_HEARTBEAT_SECONDS", 10)


def stalled_after() -> timedelta:
    """A running job whose heartbeat is older than this lost its worker."""
    return timedelta(seconds=jobs.setting("PORTAL_QUERY_STALLED_AFTER_SECONDS", 120))


def resend_after() -> timedelta:
    """A job queued (or last sent) longer ago than this is sent to the broker again."""
    return timedelta(seconds=jobs.setting("PORTAL_QUERY_RESEND_AFTER_SECONDS", 60))


def max_groups() -> int:
    return int(jobs.setting("PORTAL_QUERY_MAX_GROUPS", 100_000))


# --- what the analyst asks -----------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRequest:
    plan: QueryPlan
    mechanism: str
    epsilon: Decimal
    rho: Decimal
    delta: Decimal
    cost: PrivacyCost


def _parameters(mechanism: Any, epsilon: Any, rho: Any, delta: Any) -> tuple[str, Decimal, Decimal, Decimal]:
    if mechanism not in QUERY_MECHANISMS:
        raise ApplicationError(f"mechanism must be one of: {', '.join(QUERY_MECHANISMS)}.", field="mechanism")
    field, other = ("epsilon", "rho") if mechanism == Mechanism.LAPLACE else ("rho", "epsilon")
    given, unused = (epsilon, rho) if mechanism == Mechanism.LAPLACE else (rho, epsilon)
    if given in (None, ""):
        raise ApplicationError(f"The {mechanism} mechanism needs {field}, above zero.", field=field)
    amount = parse_epsilon(given, field=field, allow_zero=False)
    if unused not in (None, "") and parse_epsilon(unused, field=other) != 0:
        raise ApplicationError(f"{other} does not apply to the {mechanism} mechanism; leave it empty.", field=other)
    delta_value = parse_delta(ZERO if delta in (None, "") else delta)
    if mechanism == Mechanism.LAPLACE:
        return mechanism, amount, ZERO, delta_value
    return mechanism, ZERO, amount, delta_value


def _prepared(*, dataset: Dataset, sql: Any, mechanism: Any, epsilon: Any, rho: Any, delta: Any) -> QueryRequest:
    """Parse and compile; every refusal here comes before any reservation."""
    if not isinstance(sql, str) or not sql.strip():
        raise ApplicationError("Write a SQL query.", field="sql")
    if dataset.removed_at is not None:
        raise ApplicationError(f"{dataset.address} was removed from its backend; it cannot be queried.")
    if dataset.backend_id is None:
        raise ApplicationError(f"{dataset.address} has no registered backend to run queries on.")
    mechanism, epsilon_value, rho_value, delta_value = _parameters(mechanism, epsilon, rho, delta)
    plan = compile_dp_query(sql, dataset=dataset)
    cost = query_cost(plan, mechanism=mechanism, epsilon=epsilon_value, rho=rho_value, delta=delta_value)
    return QueryRequest(plan, mechanism, epsilon_value, rho_value, delta_value, cost)


def _memo(actor: User, dataset: Dataset, request: QueryRequest) -> QueryJob | None:
    return query_memo_source(
        owner=actor,
        dataset=dataset,
        dataset_version=request.plan.dataset_version,
        normalized_sql=request.plan.normalized_sql,
        mechanism=request.mechanism,
        epsilon=request.epsilon,
        rho=request.rho,
        delta=request.delta,
    )


def query_preview(
    *, user: User, dataset: Dataset, sql: Any, mechanism: Any, epsilon: Any, rho: Any, delta: Any
) -> dict:
    """What the query would cost, how accurate it would be and whether it would pass. Charges
    nothing and reads no data (only the query, the declared metadata, the policy and the ledger)."""
    ensure_can_view(user, dataset)
    request = _prepared(dataset=dataset, sql=sql, mechanism=mechanism, epsilon=epsilon, rho=rho, delta=delta)
    memo = _memo(user, dataset, request)
    preview = cost_preview(user=user, dataset=dataset, cost=request.cost, mechanism=request.mechanism)
    allowed, reason = preview.allowed, preview.reason
    if memo is not None:
        try:
            usable_policy(user=user, dataset=dataset, mechanism=request.mechanism)
            allowed, reason = True, ""
        except ApplicationError as refusal:
            allowed, reason = False, refusal.message
    return {
        "allowed": allowed,
        "reason": reason,
        "cost": PrivacyCost() if memo else request.cost,
        "release_epsilon": ZERO if memo else preview.release_epsilon,
        "accuracy": accuracy(
            request.plan, mechanism=request.mechanism, epsilon=request.epsilon, rho=request.rho, delta=request.delta
        ),
        "memoized": memo is not None,
        "memo_source": memo.pk if memo else None,
        "user_balance": preview.user_balance,
        "dataset_balance": preview.dataset_balance,
    }


# --- submitting ----------------------------------------------------------------------------------


def _send(job_id: int, queue: str) -> bool:
    """Hand the job's id to the broker. A broker that is down leaves the job queued for the sweeper."""
    from apps.queries.tasks import query_run_task

    return jobs.send(query_run_task, QueryJob, job_id, queue, log=logger, label="query")


def _job_fields(actor: User, dataset: Dataset, sql: str, request: QueryRequest) -> dict[str, Any]:
    return {
        "owner": actor,
        "dataset": dataset,
        "dataset_version": request.plan.dataset_version,
        "sql": sql,
        "normalized_sql": request.plan.normalized_sql,
        "plan": request.plan.to_json(),
        "mechanism": request.mechanism,
        "epsilon": request.epsilon,
        "rho": request.rho,
        "delta": request.delta,
    }


def _cost_details(cost: PrivacyCost) -> dict[str, str]:
    return {"epsilon": str(cost.epsilon), "delta": str(cost.delta), "rho": str(cost.rho)}


def _submit(*, actor: User, dataset: Dataset, sql: str, request: QueryRequest, request_id: str) -> QueryJob:
    with transaction.atomic():
        usable_policy(user=actor, dataset=dataset, mechanism=request.mechanism)
        memo = _memo(actor, dataset, request)
        if memo is not None:
            now = timezone.now()
            job = QueryJob.objects.create(
                **_job_fields(actor, dataset, sql, request),
                status=QueryJob.Status.SUCCEEDED,
                memo_source=memo,
                result=memo.result,
                started_at=now,
                finished_at=now,
            )
            audit_record(
                actor=actor, action="query.memo_hit", obj=job, request_id=request_id, details={"memo_source": memo.pk}
            )
            return job
        job = QueryJob.objects.create(**_job_fields(actor, dataset, sql, request))
        job.reservation = budget_reserve(
            actor=actor,
            dataset=dataset,
            cost=request.cost,
            mechanism=request.mechanism,
            reference=f"query:{job.pk}",
            request_id=request_id,
        )
        job.save(update_fields=["reservation"])
        audit_record(
            actor=actor, action="query.submit", obj=job, request_id=request_id, details=_cost_details(request.cost)
        )
        transaction.on_commit(partial(_send, job.pk, queue_for(kind="queries", domain_slug=dataset.domain.slug)))
    return job


def query_submit(
    *, actor: User, dataset: Dataset, sql: Any, mechanism: Any, epsilon: Any, rho: Any, delta: Any, request_id: str = ""
) -> QueryJob:
    """Queue a DP query (its cost reserved), or give the owner's identical earlier answer for free.
    A refusal raises before anything is reserved, and leaves one audit row."""
    ensure_can_view(actor, dataset)
    try:
        request = _prepared(dataset=dataset, sql=sql, mechanism=mechanism, epsilon=epsilon, rho=rho, delta=delta)
        return _submit(actor=actor, dataset=dataset, sql=sql, request=request, request_id=request_id)
    except ApplicationError as refusal:
        audit_record(
            actor=actor,
            action="query.refuse",
            obj=dataset,
            outcome=AuditEvent.Outcome.DENIED if isinstance(refusal, Forbidden) else AuditEvent.Outcome.REFUSED,
            request_id=request_id,
            details={"code": refusal.code, "reason": refusal.message[:300]},
        )
        raise


# --- running -------------------------------------------------------------------------------------


def _claim(job_id: int) -> bool:
    return jobs.claim(QueryJob, job_id)


def _finish(job_id: int, *, status: str, charge: bool, result: dict | None = None, error: str = "") -> bool:
    """End a running job: its state and its budget (commit or release) in one transaction. False
    when the job is not running any more (another process ended it first)."""
    with transaction.atomic():
        job = (
            QueryJob.objects.select_for_update(of=("self",))
            .select_related("reservation", "owner")
            .filter(pk=job_id, status=QueryJob.Status.RUNNING)
            .first()
        )
        if job is None:
            return False
        job.status, job.result, job.error, job.finished_at = status, result, error[:500], timezone.now()
        job.save(update_fields=["status", "result", "error", "finished_at"])
        if job.reservation is not None:
            (budget_commit if charge else budget_release)(reservation=job.reservation)
        audit_record(
            actor=job.owner,
            action="query.finish",
            obj=job,
            outcome=AuditEvent.Outcome.SUCCESS if status == QueryJob.Status.SUCCEEDED else AuditEvent.Outcome.FAILED,
            details={"status": status, "charged": charge},
        )
    return True


def _fail_stalled(job_id: int) -> bool:
    """Fail a running job whose heartbeat stopped; it stays charged. False if it is alive or ended."""
    stalled = jobs.stalled(QueryJob, stalled_after()).filter(pk=job_id)
    with transaction.atomic():
        if not list(stalled.select_for_update().values_list("pk", flat=True)):
            return False
        return _finish(job_id, status=QueryJob.Status.FAILED, charge=True, error=WORKER_STOPPED)


def _heartbeat(job_id: int) -> AbstractContextManager[None]:
    """Beat the job's heartbeat from a thread (with its own connection) while the backend works."""
    return jobs.heartbeat(QueryJob, job_id, seconds=heartbeat_seconds, log=logger, label="query")


def _log_unexpected(job_id: int, stage: str, exc: BaseException) -> None:
    jobs.log_unexpected(logger, "query", job_id, stage, exc)


def _fetch(job: QueryJob, plan: QueryPlan) -> list[tuple]:
    """The per-group aggregates, from the domain's backend. Raises ``BackendUnreachable`` when
    nothing was sent to the backend (the reservation can be given back)."""
    dataset = Dataset.objects.select_related("backend", "domain").get(pk=job.dataset_id)
    if dataset.version != job.dataset_version:
        raise BackendUnreachable(
            f"{dataset.address} changed (its declared metadata) since the query was submitted; submit it again."
        )
    if dataset.backend is None:
        raise BackendUnreachable(f"{dataset.address} has no registered backend any more.")
    try:
        sql, params = pushdown_sql(plan, dialect=dialect_for(dataset.backend))
        connector = connector_for(dataset.backend)
    except ApplicationError as exc:
        raise BackendUnreachable(exc.message) from None
    except Exception as exc:
        _log_unexpected(job.pk, "compiling the pushdown query", exc)
        raise BackendUnreachable("The query could not be compiled for its backend; nothing was read.") from None
    with connector:
        try:
            return connector.fetch_aggregates(sql, params, max_rows=max_groups())
        except BackendUnreachable as exc:
            # The connector's message names hosts, ports or file paths: for the domain's operators
            # (the log and the backend's health page), not for an analyst.
            logger.warning("query job %s: backend %s unreachable: %s", job.pk, dataset.backend.slug, exc.message)
            raise BackendUnreachable(
                f"The {dataset.domain.name} domain's backend could not be reached; nothing was read. "
                "Try again later; its owners see the details on the backend's page."
            ) from None


def query_run(*, job_id: int) -> QueryJob | None:
    """Run a queued job. A job that is not queued any more is left alone, unless it is running with
    a stopped heartbeat: then its worker died, and it is failed (charged), never run again."""
    if not _claim(job_id):
        if _fail_stalled(job_id):
            logger.warning("query job %s: delivered again after its worker stopped; marked failed", job_id)
        else:
            logger.info("query job %s is not queued any more; nothing to do", job_id)
        return None
    job = QueryJob.objects.get(pk=job_id)
    with _heartbeat(job_id):
        try:
            plan = QueryPlan.from_json(job.plan)
            rows = _fetch(job, plan)
        except BackendUnreachable as exc:
            _finish(job_id, status=QueryJob.Status.FAILED, charge=False, error=exc.message)
            return _reloaded(job_id)
        except BackendUnavailable as exc:
            _finish(job_id, status=QueryJob.Status.FAILED, charge=True, error=exc.message)
            return _reloaded(job_id)
        except Exception as exc:
            _log_unexpected(job_id, "reading the aggregates", exc)
            _finish(job_id, status=QueryJob.Status.FAILED, charge=True, error=UNEXPECTED)
            return _reloaded(job_id)
        try:
            result = release(plan, rows, mechanism=job.mechanism, epsilon=job.epsilon, rho=job.rho, delta=job.delta)
        except Exception as exc:
            _log_unexpected(job_id, "adding noise", exc)
            _finish(job_id, status=QueryJob.Status.FAILED, charge=True, error=UNEXPECTED)
            return _reloaded(job_id)
        del rows
        if not _finish(job_id, status=QueryJob.Status.SUCCEEDED, charge=True, result=result):
            logger.warning("query job %s ended elsewhere while it ran; its answer is discarded", job_id)
    return _reloaded(job_id)


def _reloaded(job_id: int) -> QueryJob:
    return QueryJob.objects.get(pk=job_id)


# --- cancelling, downloading, sweeping -----------------------------------------------------------


def query_cancel(*, actor: User, job: QueryJob, request_id: str = "") -> QueryJob:
    """Cancel a queued job and give its reservation back. A running or finished job is refused."""
    with transaction.atomic():
        locked = QueryJob.objects.select_for_update(of=("self",)).select_related("reservation").get(pk=job.pk)
        if locked.owner_id != actor.pk:
            raise Forbidden("Only the analyst who submitted a query can cancel it.")
        if locked.status == QueryJob.Status.RUNNING:
            raise Conflict(
                "The query is already running: it cannot be cancelled any more. Its data is being read, so it "
                "will finish on its own and its cost stays charged."
            )
        if locked.status != QueryJob.Status.QUEUED:
            raise Conflict(f"The query has already ended ({locked.get_status_display().lower()}).")
        locked.status, locked.finished_at = QueryJob.Status.CANCELLED, timezone.now()
        locked.error = "Cancelled before it ran; its reservation was released."
        locked.save(update_fields=["status", "finished_at", "error"])
        if locked.reservation is not None:
            budget_release(reservation=locked.reservation, request_id=request_id)
        audit_record(actor=actor, action="query.cancel", obj=locked, request_id=request_id)
    return locked


def query_result_download(*, actor: User, job: QueryJob, request_id: str = "") -> str:
    """The job's noisy answer as CSV, with an audit row for the download."""
    if job.status != QueryJob.Status.SUCCEEDED or not isinstance(job.result, dict):
        raise Conflict(f"The query has no answer to download ({job.get_status_display().lower()}).")
    with transaction.atomic():
        audit_record(actor=actor, action="query.download", obj=job, request_id=request_id)
    return query_result_csv(job)


def queries_sweep() -> dict[str, int]:
    """Send again the jobs the broker may have lost; fail the running jobs whose worker stopped."""
    return jobs.sweep(
        QueryJob,
        resend_after=resend_after(),
        stalled_after=stalled_after(),
        send=lambda pk, slug: _send(pk, queue_for(kind="queries", domain_slug=slug)),
        fail_stalled=_fail_stalled,
        log=logger,
        label="query",
    )
