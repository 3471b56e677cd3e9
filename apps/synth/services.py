"""DP synthetic-data jobs: submit, run, cancel, sweep, download; and the owner-funded preview.

The database is the source of truth; the broker only carries a job's id, and may lose it. The
machinery is the DP query jobs' (``apps.queries.services``):

- ``synth_submit`` checks everything that can be checked without data (the columns' declared
  metadata, the synthesizer, the amounts, the rows, whether the model would fit in memory) before
  anything else; a refusal is a 4xx with the engine's message, charges nothing and leaves one audit
  row. Then, in one transaction, it creates the job, reserves its cost through the accountant and
  writes the audit row; the id goes to the broker once that transaction has committed.
- ``synth_run`` claims the job with a conditional UPDATE (queued → running): a duplicate delivery
  finds nothing to claim. Before the engine first asks the backend for counts the job is marked
  ``data_touched``: from then on it stays charged whatever happens. The sample is written to its file,
  then its catalog entry, the job's end and the budget commit are stored in one transaction.
- A thread beats ``heartbeat_at`` while the job runs; progress (phase, fraction, and from them an
  ETA) is written at most twice a second. A running job whose heartbeat stopped (its worker was
  killed) is failed by its next delivery or by ``synth_sweep``, charged if it touched data.
- ``synth_cancel``: a queued job is cancelled and its reservation released; a running job is asked
  to stop (the engine checks ``should_stop`` often) and ends cancelled, charged once it touched data.

The preview of a confidential dataset (a noisy histogram per column and a small sample) is a job
of purpose ``preview``: an owner funds it from the dataset-wide budget alone
(``budget_reserve_dataset_wide``) and every user who may see the dataset sees its result for free.

Error messages and log lines never carry a data value.
"""

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial
from types import ModuleType
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Column, Dataset
from apps.core import jobs
from apps.core.errors import ApplicationError, Conflict, Forbidden
from apps.core.queues import queue_for
from apps.domains.models import Sensitivity
from apps.domains.permissions import (
    can_manage_policies,
    can_read_samples_of,
    ensure_can_manage_policies,
    ensure_can_view,
)
from apps.privacy.accountant import (
    budget_commit,
    budget_release,
    budget_reserve,
    budget_reserve_dataset_wide,
    cost_preview,
    usable_policy,
)
from apps.privacy.composition import PrivacyCost
from apps.privacy.models import Mechanism
from apps.privacy.validation import parse_delta, parse_epsilon
from apps.synth import storage
from apps.synth.models import SynthJob
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

logger = logging.getLogger(__name__)

MECHANISM = Mechanism.SYNTHESIZER.value
WORKER_STOPPED = "The worker stopped during the job. It is not run again."
UNEXPECTED = "The job failed unexpectedly; the worker's log has the details (never any data value)."
MAX_COLUMNS = 200
# The delta at which an (epsilon, delta) request is converted to zCDP's rho when none is given. The
# accountant charges rho and composes it at the owner's delta limit; this delta is not spent itself.
DEFAULT_DELTA = Decimal("0.000001")


def heartbeat_seconds() -> float:
    return jobs.setting("PORTAL_SYNTH_HEARTBEAT_SECONDS", jobs.setting("PORTAL_QUERY_HEARTBEAT_SECONDS", 10))


def stalled_after() -> timedelta:
    return timedelta(
        seconds=jobs.setting(
            "PORTAL_SYNTH_STALLED_AFTER_SECONDS", jobs.setting("PORTAL_QUERY_STALLED_AFTER_SECONDS", 120)
        )
    )


def resend_after() -> timedelta:
    return timedelta(
        seconds=jobs.setting("PORTAL_SYNTH_RESEND_AFTER_SECONDS", jobs.setting("PORTAL_QUERY_RESEND_AFTER_SECONDS", 60))
    )


def max_rows() -> int:
    return int(jobs.setting("PORTAL_SYNTH_MAX_ROWS", 1_000_000))


def preview_rows() -> int:
    return int(jobs.setting("PORTAL_SYNTH_PREVIEW_ROWS", 100))


def preview_epsilon() -> Decimal:
    return Decimal(str(getattr(settings, "PORTAL_SYNTH_PREVIEW_EPSILON", "1")))


def engine() -> ModuleType:
    """The synthetic-data engine (imported on use: it brings pandas, JAX and the synthesizers)."""
    from apps.synth import engine as synth_engine

    return synth_engine


# --- what the analyst asks -----------------------------------------------------------------------


@dataclass(frozen=True)
class SynthRequest:
    synthesizer: str
    columns: list[str]
    epsilon: Decimal
    delta: Decimal
    rows: int
    encoding: Any
    cost: PrivacyCost


def _synthesizer(raw: Any) -> str:
    eng = engine()
    name = eng.DEFAULT_SYNTHESIZER if raw in (None, "") else raw
    if not isinstance(name, str):
        raise ApplicationError("synthesizer must be a name.", field="synthesizer")
    name = name.strip().lower()
    if name in eng.SYNTHESIZERS:
        return name
    if name in eng.NOT_OFFERED:
        raise ApplicationError(f"{name} is not offered: {eng.NOT_OFFERED[name]}", field="synthesizer")
    offered = ", ".join(sorted(eng.SYNTHESIZERS))
    raise ApplicationError(f"Unknown synthesizer; choose one of: {offered}.", field="synthesizer")


def _column_names(raw: Any) -> list[str] | None:
    if raw in (None, "", []):
        return None
    if isinstance(raw, str):
        raw = [name.strip() for name in raw.split(",") if name.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(name, str) for name in raw):
        raise ApplicationError("columns must be a list of column names.", field="columns")
    if len(raw) > MAX_COLUMNS:
        raise ApplicationError(f"Pick at most {MAX_COLUMNS} columns.", field="columns")
    names = [name.strip() for name in raw]
    if any(not name or len(name) > 200 for name in names):
        raise ApplicationError("A column name is empty or too long.", field="columns")
    if len(set(names)) != len(names):
        raise ApplicationError("A column is named twice.", field="columns")
    return names or None


def _rows(raw: Any) -> int:
    limit = max_rows()
    if isinstance(raw, bool) or raw in (None, ""):
        raise ApplicationError(f"rows must be a whole number from 1 to {limit:,}.", field="rows")
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise ApplicationError(f"rows must be a whole number from 1 to {limit:,}.", field="rows") from None
    if not 1 <= value <= limit:
        raise ApplicationError(f"rows must be a whole number from 1 to {limit:,}.", field="rows")
    return value


def _check_dataset(dataset: Dataset) -> None:
    if dataset.kind == Dataset.Kind.SYNTHETIC or not dataset.is_confidential:
        raise ApplicationError(
            f"{dataset.address} is not a confidential dataset: synthetic data is made from confidential ones."
        )
    if dataset.removed_at is not None:
        raise ApplicationError(f"{dataset.address} was removed from its backend; it cannot be synthesized.")
    if dataset.backend_id is None:
        raise ApplicationError(f"{dataset.address} has no registered backend to compute counts on.")


def _prepared(
    *, dataset: Dataset, synthesizer: Any, columns: Any, epsilon: Any, delta: Any, rows: Any
) -> SynthRequest:
    """Parse and check; every refusal here comes before any reservation and reads no data."""
    _check_dataset(dataset)
    name = _synthesizer(synthesizer)
    asked = _column_names(columns)
    epsilon_value = parse_epsilon(epsilon, allow_zero=False)
    delta_value = parse_delta(DEFAULT_DELTA if delta in (None, "") else delta)
    row_count = _rows(rows)
    eng = engine()
    encoding = eng.encoding_for(dataset=dataset, column_names=asked)
    eng.check_fits(encoding=encoding, synthesizer=name, rows=row_count)
    cost = eng.synth_cost(synthesizer=name, epsilon=epsilon_value, delta=delta_value)
    return SynthRequest(name, list(encoding.names), epsilon_value, delta_value, row_count, encoding, cost)


def _cost_details(cost: PrivacyCost) -> dict[str, str]:
    return {"epsilon": str(cost.epsilon), "delta": str(cost.delta), "rho": str(cost.rho)}


def synth_preview_cost(
    *, user: User, dataset: Dataset, synthesizer: Any, columns: Any, epsilon: Any, delta: Any, rows: Any
) -> dict[str, Any]:
    """What a job would cost and whether it would be granted now. Charges nothing, reads no data."""
    ensure_can_view(user, dataset)
    request = _prepared(
        dataset=dataset, synthesizer=synthesizer, columns=columns, epsilon=epsilon, delta=delta, rows=rows
    )
    preview = cost_preview(user=user, dataset=dataset, cost=request.cost, mechanism=MECHANISM)
    return {
        "allowed": preview.allowed,
        "reason": preview.reason,
        "synthesizer": request.synthesizer,
        "columns": request.columns,
        "rows": request.rows,
        "cost": request.cost,
        "release_epsilon": preview.release_epsilon,
        "user_balance": preview.user_balance,
        "dataset_balance": preview.dataset_balance,
    }


# --- submitting ----------------------------------------------------------------------------------


def _send(job_id: int, queue: str) -> bool:
    """Hand the job's id to the broker. A broker that is down leaves the job queued for the sweeper."""
    from apps.synth.tasks import synth_run_task

    return jobs.send(synth_run_task, SynthJob, job_id, queue, log=logger, label="synth")


def _queue(dataset: Dataset) -> str:
    return queue_for(kind="synthesis", domain_slug=dataset.domain.slug)


def _refused(actor: User, dataset: Dataset, refusal: ApplicationError, request_id: str, action: str) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=dataset,
        outcome=AuditEvent.Outcome.DENIED if isinstance(refusal, Forbidden) else AuditEvent.Outcome.REFUSED,
        request_id=request_id,
        details={"code": refusal.code, "reason": refusal.message[:300]},
    )


def synth_submit(
    *,
    actor: User,
    dataset: Dataset,
    synthesizer: Any = None,
    columns: Any = None,
    epsilon: Any,
    delta: Any = None,
    rows: Any,
    request_id: str = "",
) -> SynthJob:
    """Queue a synthetic-data job, its cost reserved. A refusal raises before anything is reserved
    and leaves one audit row."""
    ensure_can_view(actor, dataset)
    try:
        request = _prepared(
            dataset=dataset, synthesizer=synthesizer, columns=columns, epsilon=epsilon, delta=delta, rows=rows
        )
        with transaction.atomic():
            usable_policy(user=actor, dataset=dataset, mechanism=MECHANISM)
            job = SynthJob.objects.create(
                owner=actor,
                dataset=dataset,
                dataset_version=dataset.version,
                purpose=SynthJob.Purpose.SAMPLE,
                synthesizer=request.synthesizer,
                columns=request.columns,
                epsilon=request.epsilon,
                delta=request.delta,
                rows=request.rows,
            )
            job.reservation = budget_reserve(
                actor=actor,
                dataset=dataset,
                cost=request.cost,
                mechanism=MECHANISM,
                reference=f"synth:{job.pk}",
                request_id=request_id,
            )
            job.save(update_fields=["reservation"])
            audit_record(
                actor=actor,
                action="synth.submit",
                obj=job,
                request_id=request_id,
                details={"synthesizer": job.synthesizer, "rows": job.rows, **_cost_details(request.cost)},
            )
            transaction.on_commit(partial(_send, job.pk, _queue(dataset)))
    except ApplicationError as refusal:
        _refused(actor, dataset, refusal, request_id, "synth.refuse")
        raise
    return job


# --- the preview of a dataset --------------------------------------------------------------------


def _preview_split(epsilon: Decimal) -> tuple[Decimal, Decimal]:
    """Half the preview's epsilon for the histograms, half for the small sample."""
    half = (epsilon / 2).quantize(Decimal("1e-12"))
    return half, epsilon - half


def synth_preview_refresh(
    *, actor: User, dataset: Dataset, epsilon: Any = None, delta: Any = None, request_id: str = ""
) -> SynthJob:
    """An owner funds a fresh preview of ``dataset`` (histograms and a small sample) from the
    dataset-wide budget; every user who may see the dataset sees it free."""
    ensure_can_view(actor, dataset)
    try:
        ensure_can_manage_policies(actor, dataset)  # a denial is audited like any refusal
        _check_dataset(dataset)
        total = preview_epsilon() if epsilon in (None, "") else parse_epsilon(epsilon, allow_zero=False)
        delta_value = parse_delta(DEFAULT_DELTA if delta in (None, "") else delta)
        eng = engine()
        name = eng.DEFAULT_SYNTHESIZER
        encoding = eng.encoding_for(dataset=dataset, column_names=None)
        rows = preview_rows()
        eng.check_fits(encoding=encoding, synthesizer=name, rows=rows)
        profile_epsilon, sample_epsilon = _preview_split(total)
        cost = eng.profile_cost(epsilon=profile_epsilon, delta=delta_value) + eng.synth_cost(
            synthesizer=name, epsilon=sample_epsilon, delta=delta_value
        )
        with transaction.atomic():
            # One preview at a time per dataset: the dataset's row is the lock (a lock on running
            # previews alone would let two refreshes that find none both go on and both be charged).
            list(Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("pk", flat=True))
            busy = SynthJob.objects.filter(
                dataset=dataset,
                purpose=SynthJob.Purpose.PREVIEW,
                status__in=[SynthJob.Status.QUEUED, SynthJob.Status.RUNNING],
            )
            if busy.exists():
                raise Conflict("A preview of this dataset is already being made; wait for it to finish.")
            job = SynthJob.objects.create(
                owner=actor,
                dataset=dataset,
                dataset_version=dataset.version,
                purpose=SynthJob.Purpose.PREVIEW,
                synthesizer=name,
                columns=list(encoding.names),
                epsilon=total,
                delta=delta_value,
                rows=rows,
            )
            job.reservation = budget_reserve_dataset_wide(
                actor=actor,
                dataset=dataset,
                cost=cost,
                mechanism=MECHANISM,
                reference=f"synth-preview:{job.pk}",
                request_id=request_id,
            )
            job.save(update_fields=["reservation"])
            audit_record(
                actor=actor, action="synth.preview", obj=job, request_id=request_id, details=_cost_details(cost)
            )
            transaction.on_commit(partial(_send, job.pk, _queue(dataset)))
    except ApplicationError as refusal:
        _refused(actor, dataset, refusal, request_id, "synth.preview_refuse")
        raise
    return job


# --- running -------------------------------------------------------------------------------------


class Stopped(Exception):
    """The job was cancelled (or ended elsewhere) while it ran."""


def _claim(job_id: int) -> bool:
    now = timezone.now()
    return jobs.claim(SynthJob, job_id, now=now, progress_at=now, phase="Starting")


def _output_dataset(job: SynthJob, frame: pd.DataFrame) -> Dataset:
    """The sample's catalog entry: synthetic, derived from its source, linked to its job."""
    source = job.dataset
    now = timezone.now()
    output = Dataset.objects.create(
        kind=Dataset.Kind.SYNTHETIC,
        derived_from=source,
        domain=source.domain,
        product=source.product,
        address=f"{source.domain.slug}.synthetic.{source.table_name}_sample_{job.pk}"[:300],
        name=f"{source.name} — synthetic sample #{job.pk}"[:200],
        table_name=f"{source.table_name}_sample_{job.pk}"[:200],
        description=(
            f"A differentially private synthetic sample of `{source.address}`: {job.sample_rows or len(frame):,} rows "
            f"made by {job.synthesizer.upper()} at epsilon {job.epsilon.normalize()} (job #{job.pk}). "
            "No row of it is a real person's row."
        ),
        sensitivity=Sensitivity.OPEN,
        row_count=len(frame),
        data_updated_at=now,
    )
    declared = {column.name: column for column in source.columns.filter(removed_at__isnull=True)}
    Column.objects.bulk_create(
        [
            Column(
                dataset=output,
                name=name,
                position=position,
                data_type=declared[name].data_type if name in declared else str(frame[name].dtype),
                logical_type=declared[name].logical_type if name in declared else Column.LogicalType.OTHER,
                nullable=declared[name].nullable if name in declared else True,
                description=declared[name].description if name in declared else "",
                classification=declared[name].classification if name in declared else Column.Classification.PUBLIC,
                classification_confirmed=name in declared,
                lower_bound=declared[name].lower_bound if name in declared else None,
                upper_bound=declared[name].upper_bound if name in declared else None,
                categories=list(declared[name].categories) if name in declared else [],
            )
            for position, name in enumerate(str(c) for c in frame.columns)
        ]
    )
    try:
        from apps.catalog.harvest import search_text_for

        output.search_text = search_text_for(output)
        output.save(update_fields=["search_text"])
    except Exception as exc:  # the search index is a convenience; the sample stands without it
        logger.warning("synth job %s: search text not written (%s)", job.pk, type(exc).__name__)
    return output


def _finish(
    job_id: int,
    *,
    status: str,
    charge: bool,
    error: str = "",
    fields: dict[str, Any] | None = None,
    frame: pd.DataFrame | None = None,
) -> bool:
    """End a running job: its state, its catalog entry and its budget in one transaction. False
    when the job is not running any more (another process ended it first)."""
    with transaction.atomic():
        job = (
            SynthJob.objects.select_for_update(of=("self",))
            .select_related("reservation", "owner", "dataset__domain", "dataset__product")
            .filter(pk=job_id, status=SynthJob.Status.RUNNING)
            .first()
        )
        if job is None:
            return False
        for name, value in (fields or {}).items():
            setattr(job, name, value)
        job.status, job.error, job.finished_at = status, error[:500], timezone.now()
        if status == SynthJob.Status.SUCCEEDED:
            job.progress, job.phase = 1.0, "Done"
            if frame is not None and job.purpose == SynthJob.Purpose.SAMPLE:
                job.output = _output_dataset(job, frame)
        job.save()
        if job.reservation is not None:
            (budget_commit if charge else budget_release)(reservation=job.reservation)
        audit_record(
            actor=job.owner,
            action="synth.finish",
            obj=job,
            outcome=AuditEvent.Outcome.SUCCESS if status == SynthJob.Status.SUCCEEDED else AuditEvent.Outcome.FAILED,
            details={"status": status, "charged": charge},
        )
    return True


def _fail_stalled(job_id: int) -> bool:
    """Fail a running job whose heartbeat stopped; charged if it touched data. False if alive or ended."""
    stalled = jobs.stalled(SynthJob, stalled_after()).filter(pk=job_id)
    with transaction.atomic():
        touched = list(stalled.select_for_update().values_list("data_touched", flat=True))
        if not touched:
            return False
        message = WORKER_STOPPED + (
            " Its cost stays charged: the backend may already have read the data."
            if touched[0]
            else " It had not read any data: its reservation was released."
        )
        return _finish(job_id, status=SynthJob.Status.FAILED, charge=touched[0], error=message)


def _heartbeat(job_id: int) -> AbstractContextManager[None]:
    """Beat the job's heartbeat from a thread (with its own connection) while the engine works."""
    return jobs.heartbeat(SynthJob, job_id, seconds=heartbeat_seconds, log=logger, label="synth")


class Progress:
    """The engine's ``progress`` and ``should_stop`` callbacks, writing and reading the job's row at
    most every ``interval`` seconds. ``start`` and ``span`` map the engine's fraction onto the part of
    the job it covers."""

    def __init__(self, job_id: int, *, start: float = 0.0, span: float = 1.0, interval: float = 0.5) -> None:
        self.job_id, self.start, self.span, self.interval = job_id, start, span, interval
        self._written = 0.0
        self._checked = 0.0
        self._stop = False

    def part(self, start: float, span: float) -> "Progress":
        self.start, self.span, self._written = start, span, 0.0
        return self

    def __call__(self, phase: str, fraction: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < self.interval:
            return
        self._written = now
        try:
            value = min(max(float(fraction), 0.0), 1.0)
        except (TypeError, ValueError):
            value = 0.0
        SynthJob.objects.filter(pk=self.job_id, status=SynthJob.Status.RUNNING).update(
            phase=str(phase)[:200], progress=round(self.start + self.span * value, 4), progress_at=timezone.now()
        )

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self._stop and now - self._checked >= self.interval:
            self._checked = now
            state = SynthJob.objects.filter(pk=self.job_id).values_list("status", "cancel_requested").first()
            self._stop = state is None or state[0] != SynthJob.Status.RUNNING or bool(state[1])
        return self._stop

    def check(self) -> None:
        self._checked = 0.0
        if self.should_stop():
            raise Stopped


def _log_unexpected(job_id: int, stage: str, exc: BaseException) -> None:
    jobs.log_unexpected(logger, "synth", job_id, stage, exc)


def _jsonable(value: Any) -> Any:
    """Details and reports as plain JSON (numpy numbers and Decimals included)."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if number == number and abs(number) != float("inf") else None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)


def _source(job: SynthJob) -> tuple[Any, Any]:
    """Encoding and marginal source, from the catalog. Raises ``ApplicationError`` before any data is read."""
    dataset = Dataset.objects.select_related("backend", "domain").get(pk=job.dataset_id)
    if dataset.version != job.dataset_version:
        raise ApplicationError(
            f"{dataset.address} changed (its declared metadata) since the job was submitted; submit it again."
        )
    _check_dataset(dataset)
    eng = engine()
    encoding = eng.encoding_for(dataset=dataset, column_names=list(job.columns) or None)
    return encoding, eng.backend_source(dataset)


def _touch(job_id: int) -> None:
    """Mark the job charged-from-now-on, just before the backend is first asked; a job that ended
    meanwhile (the sweeper failed it and released its budget, or it was cancelled) reads nothing."""
    touched = SynthJob.objects.filter(pk=job_id, status=SynthJob.Status.RUNNING, cancel_requested=False).update(
        data_touched=True
    )
    if touched != 1:
        raise Stopped


def _within_reservation(spent: Any, reservation: Any) -> bool:
    """What the engine's measurements spent never exceeds what was reserved (and is then charged)."""
    if reservation is None:
        return True
    if not isinstance(spent, PrivacyCost):
        return False
    return spent.epsilon <= reservation.epsilon and spent.delta <= reservation.delta and spent.rho <= reservation.rho


def _work(job: SynthJob, progress: Progress) -> tuple[dict[str, Any], pd.DataFrame]:
    """Ask the engine for the release; return the job's fields to store and the sample."""
    eng = engine()
    encoding, source = _source(job)
    progress.check()
    _touch(job.pk)
    fields: dict[str, Any] = {}
    spent = PrivacyCost()
    synth_epsilon = job.epsilon
    if job.purpose == SynthJob.Purpose.PREVIEW:
        profile_epsilon, synth_epsilon = _preview_split(job.epsilon)
        progress.part(0.0, 0.3)("Noisy histograms", 0.0, force=True)
        profile = eng.dp_profile(source=source, encoding=encoding, epsilon=profile_epsilon, delta=job.delta)
        fields["profile"] = _jsonable(profile.histograms)
        spent = spent + profile.spent
        progress.check()
        progress.part(0.3, 0.7)
    else:
        progress.part(0.0, 0.85)
    result = eng.synthesize(
        source=source,
        encoding=encoding,
        synthesizer=job.synthesizer,
        epsilon=synth_epsilon,
        delta=job.delta,
        rows=job.rows,
        progress=progress,
        should_stop=progress.should_stop,
    )
    spent = spent + result.spent
    progress.check()  # a cancel asked during the last steps is honoured too (the job stays charged)
    if not _within_reservation(spent, job.reservation):
        raise RuntimeError("the synthesizer spent another amount than was reserved")
    frame = result.frame
    if len(frame) != job.rows:  # the size of a sample is the one asked for, never one read from the data
        raise RuntimeError("the synthesizer returned another number of rows than was asked for")
    fields["details"] = _jsonable(result.details or {})
    fields["sample_rows"] = job.rows
    if job.purpose == SynthJob.Purpose.SAMPLE and getattr(settings, "PORTAL_SYNTH_UTILITY_REPORT", True):
        progress.part(0.85, 0.1)("Measuring utility against the real data (owners only)", 0.0, force=True)
        try:
            fields["utility"] = _jsonable(eng.utility_report(source=source, encoding=encoding, sample=frame))
        except Exception as exc:  # the report is for owners; the sample stands without it
            _log_unexpected(job.pk, "measuring utility", exc)
    progress.part(0.95, 0.05)("Storing the sample", 0.0, force=True)
    return fields, frame


def synth_run(*, job_id: int) -> SynthJob | None:
    """Run a queued job. A job that is not queued any more is left alone, unless it is running with
    a stopped heartbeat: then its worker died, and it is failed, never run again."""
    if not _claim(job_id):
        if _fail_stalled(job_id):
            logger.warning("synth job %s: delivered again after its worker stopped; marked failed", job_id)
        else:
            logger.info("synth job %s is not queued any more; nothing to do", job_id)
        return None
    job = SynthJob.objects.select_related("reservation").get(pk=job_id)
    eng = engine()
    progress = Progress(job_id)
    with _heartbeat(job_id):
        try:
            fields, frame = _work(job, progress)
            storage.sample_write(job_id, frame)
        except (Stopped, eng.SynthCancelled):
            touched = SynthJob.objects.filter(pk=job_id).values_list("data_touched", flat=True).first()
            message = "Cancelled while it ran; " + (
                "its cost stays charged: the backend had already read the data."
                if touched
                else "it had not read any data, so its reservation was released."
            )
            _finish(job_id, status=SynthJob.Status.CANCELLED, charge=bool(touched), error=message)
            return _reloaded(job_id)
        except ApplicationError as exc:
            touched = SynthJob.objects.filter(pk=job_id).values_list("data_touched", flat=True).first()
            _finish(job_id, status=SynthJob.Status.FAILED, charge=bool(touched), error=exc.message)
            return _reloaded(job_id)
        except Exception as exc:
            _log_unexpected(job_id, "synthesizing", exc)
            touched = SynthJob.objects.filter(pk=job_id).values_list("data_touched", flat=True).first()
            _finish(job_id, status=SynthJob.Status.FAILED, charge=bool(touched), error=UNEXPECTED)
            return _reloaded(job_id)
        try:
            done = _finish(job_id, status=SynthJob.Status.SUCCEEDED, charge=True, fields=fields, frame=frame)
        except Exception as exc:
            storage.sample_delete(job_id)
            _log_unexpected(job_id, "storing the sample", exc)
            _finish(job_id, status=SynthJob.Status.FAILED, charge=True, error=UNEXPECTED)
            return _reloaded(job_id)
        if not done:
            storage.sample_delete(job_id)
            logger.warning("synth job %s ended elsewhere while it ran; its sample is discarded", job_id)
    return _reloaded(job_id)


def _reloaded(job_id: int) -> SynthJob:
    return SynthJob.objects.get(pk=job_id)


# --- cancelling, downloading, sweeping -----------------------------------------------------------


def synth_cancel(*, actor: User, job: SynthJob, request_id: str = "") -> SynthJob:
    """Cancel a queued job (its reservation released), or ask a running one to stop (it then ends
    cancelled, charged if it had touched data). A finished job is refused (and the refusal audited)."""
    try:
        return _cancel(actor=actor, job=job, request_id=request_id)
    except ApplicationError as refusal:
        _refused(actor, job.dataset, refusal, request_id, "synth.cancel_refuse")
        raise


def _cancel(*, actor: User, job: SynthJob, request_id: str) -> SynthJob:
    with transaction.atomic():
        locked = SynthJob.objects.select_for_update(of=("self",)).select_related("reservation").get(pk=job.pk)
        if locked.owner_id != actor.pk:
            raise Forbidden("Only the person who submitted a job can cancel it.")
        if locked.status == SynthJob.Status.RUNNING:
            if not locked.cancel_requested:
                locked.cancel_requested = True
                locked.save(update_fields=["cancel_requested"])
                audit_record(actor=actor, action="synth.cancel", obj=locked, request_id=request_id)
            return locked
        if locked.status != SynthJob.Status.QUEUED:
            raise Conflict(f"The job has already ended ({locked.get_status_display().lower()}).")
        locked.status, locked.finished_at, locked.cancel_requested = SynthJob.Status.CANCELLED, timezone.now(), True
        locked.error = "Cancelled before it ran; its reservation was released."
        locked.save(update_fields=["status", "finished_at", "error", "cancel_requested"])
        if locked.reservation is not None:
            budget_release(reservation=locked.reservation, request_id=request_id)
        audit_record(actor=actor, action="synth.cancel", obj=locked, request_id=request_id)
    return locked


def _check_download(*, actor: User, job: SynthJob, fmt: str) -> None:
    if fmt not in ("csv", "parquet"):
        raise ApplicationError("format is csv or parquet.", field="format")
    if job.status != SynthJob.Status.SUCCEEDED:
        raise Conflict(f"The job has no sample to download ({job.get_status_display().lower()}).")
    if job.purpose == SynthJob.Purpose.SAMPLE and not can_read_samples_of(actor, job.dataset):
        raise Forbidden(
            f"Your access to {job.dataset.address} has ended (or does not cover synthetic data): its samples, "
            "yours included, can no longer be downloaded. Ask its owners for access."
        )
    if not storage.sample_readable(job.pk):
        raise Conflict(
            f"The stored sample of job #{job.pk} is missing or damaged; generate a new one (this download charged "
            "nothing)."
        )


def synth_sample_download(*, actor: User, job: SynthJob, fmt: str, request_id: str = "") -> Callable[[], Any]:
    """Audit the download of a finished sample; return what streams its content. A refusal is audited."""
    try:
        _check_download(actor=actor, job=job, fmt=fmt)
    except ApplicationError as refusal:
        _refused(actor, job.dataset, refusal, request_id, "synth.download_refuse")
        raise
    with transaction.atomic():
        audit_record(actor=actor, action="synth.download", obj=job, request_id=request_id, details={"format": fmt})
    if fmt == "csv":
        return partial(storage.csv_chunks, job.pk)
    return partial(storage.parquet_bytes, job.pk)


def synth_sweep() -> dict[str, int]:
    """Send again the jobs the broker may have lost; fail the running jobs whose worker stopped."""
    return jobs.sweep(
        SynthJob,
        resend_after=resend_after(),
        stalled_after=stalled_after(),
        send=lambda pk, slug: _send(pk, queue_for(kind="synthesis", domain_slug=slug)),
        fail_stalled=_fail_stalled,
        log=logger,
        label="synth",
    )


def can_see_utility(user: Any, job: SynthJob) -> bool:
    """The utility report compares with the real data: the source's owners and admins only."""
    return can_manage_policies(user, job.dataset)


def synth_demo_load() -> SynthJob | None:
    """Demo mesh: queue the owner-funded preview of ``hr.census.adult`` (a worker makes it) when the
    dataset has a dataset-wide budget and no preview yet. Idempotent; nothing happens otherwise."""
    from apps.privacy.models import DatasetBudget

    dataset = Dataset.objects.filter(address="hr.census.adult").select_related("domain").first()
    owner = User.objects.filter(username="alice").first()
    if dataset is None or owner is None or not DatasetBudget.objects.filter(dataset=dataset).exists():
        return None
    if SynthJob.objects.filter(dataset=dataset, purpose=SynthJob.Purpose.PREVIEW).exists():
        return None
    try:
        return synth_preview_refresh(actor=owner, dataset=dataset, epsilon=preview_epsilon())
    except ApplicationError as refusal:
        logger.warning("demo: the preview of %s was not queued: %s", dataset.address, refusal.message)
        return None
