"""Harvest runs: request one (queued for a worker), run one (claimed once), or run one now."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.harvest import HarvestReport, apply_table, counts_rows, dataset_address, mark_missing
from apps.catalog.models import HarvestRun
from apps.core.errors import BackendUnavailable
from apps.core.queues import queue_for
from apps.domains.connectors import Connector, TableInfo, connector_for
from apps.domains.models import Backend
from apps.domains.permissions import ensure_can_edit
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

logger = logging.getLogger(__name__)

# A run queued or running for less than this is reused by a new request instead of starting another.
ACTIVE_RUN_REUSE = timedelta(minutes=10)


def _progress(run_id: int, progress: int, phase: str) -> None:
    HarvestRun.objects.filter(pk=run_id).update(progress=max(0, min(100, progress)), phase=phase[:200])


def _enqueue(run_id: int, queue: str) -> None:
    from apps.catalog.tasks import harvest_backend_task

    try:
        harvest_backend_task.apply_async(args=[run_id], queue=queue)
    except Exception as exc:
        # The run must not stay queued with no message on the way to a worker.
        logger.warning("could not enqueue harvest run %s: %s", run_id, type(exc).__name__)
        _finish(
            run_id,
            status=HarvestRun.Status.FAILED,
            report=None,
            message="The job queue could not be reached; the harvest did not start. Try again later.",
        )


def harvest_request(*, actor: User, backend: Backend) -> HarvestRun:
    """Queue a harvest of the backend for a worker, or give back the one already queued or running."""
    ensure_can_edit(actor, backend)
    with transaction.atomic():
        Backend.objects.select_for_update().filter(pk=backend.pk).first()
        active = (
            HarvestRun.objects.filter(backend=backend, status__in=[HarvestRun.Status.QUEUED, HarvestRun.Status.RUNNING])
            .filter(created_at__gte=timezone.now() - ACTIVE_RUN_REUSE)
            .first()
        )
        if active is not None:
            return active
        run = HarvestRun.objects.create(backend=backend, requested_by=actor, phase="Waiting for a worker")
        audit_record(actor=actor, action="harvest.request", obj=run, details={"backend": str(backend)})
        queue = queue_for(kind="harvest", domain_slug=backend.domain.slug)
        transaction.on_commit(lambda: _enqueue(run.pk, queue))
    return run


def _claim(run_id: int) -> bool:
    claimed = HarvestRun.objects.filter(pk=run_id, status=HarvestRun.Status.QUEUED).update(
        status=HarvestRun.Status.RUNNING, started_at=timezone.now(), progress=0, phase="Connecting"
    )
    return claimed == 1


def _finish(run_id: int, *, status: str, report: HarvestReport | None, message: str) -> HarvestRun:
    with transaction.atomic():
        run = (
            HarvestRun.objects.select_for_update(of=("self",))
            .select_related("backend__domain", "requested_by")
            .get(pk=run_id)
        )
        run.status = status
        run.finished_at = timezone.now()
        run.progress = 100
        run.phase = "Finished" if status == HarvestRun.Status.SUCCEEDED else "Failed"
        run.message = message[:500]
        if report is not None:
            run.report = report.as_dict()
        run.save()
        counts = {k: len(v) for k, v in (report.as_dict() if report else {}).items()}
        audit_record(
            actor=run.requested_by, action="harvest.finish", obj=run,
            outcome=AuditEvent.Outcome.SUCCESS if status == HarvestRun.Status.SUCCEEDED else AuditEvent.Outcome.FAILED,
            details={"backend": str(run.backend), "status": status, **counts},
        )  # fmt: skip
    return run


def _record_health(backend: Backend, *, ok: bool, message: str) -> None:
    Backend.objects.filter(pk=backend.pk).update(
        health=Backend.Health.OK if ok else Backend.Health.ERROR, health_message=message[:500],
        health_checked_at=timezone.now(),
    )  # fmt: skip


def _count(connector: Connector, table: TableInfo, report: HarvestReport, address: str) -> int | None:
    try:
        return connector.row_count(table)
    except BackendUnavailable as exc:
        report.warnings.append(f"{address}: {exc.message}")
        return None


def _harvest(run: HarvestRun) -> HarvestReport:
    backend = run.backend
    report = HarvestReport()
    with connector_for(backend) as connector:
        tables = connector.list_tables()
        _record_health(backend, ok=True, message="")
        _progress(run.pk, 10, f"Found {len(tables)} tables")
        present: list[str] = []
        for index, table in enumerate(tables, start=1):
            address = dataset_address(backend, table, connector.default_schema)
            present.append(address)
            row_count = _count(connector, table, report, address) if counts_rows(backend, address) else None
            with transaction.atomic():
                # One harvest of a backend writes at a time, even when two runs overlap.
                Backend.objects.select_for_update().filter(pk=backend.pk).first()
                report.merge(
                    apply_table(
                        backend=backend,
                        table=table,
                        default_schema=connector.default_schema,
                        row_count=row_count,
                        now=timezone.now(),
                    )
                )
            _progress(run.pk, 10 + int(85 * index / max(1, len(tables))), f"Catalogued {table.name}")
    with transaction.atomic():
        report.merge(mark_missing(backend=backend, present=present, now=timezone.now()))
    return report


def harvest_run(*, run_id: int) -> HarvestRun | None:
    """Run a queued harvest. A run that is not queued any more (a duplicate delivery) is left alone."""
    if not _claim(run_id):
        logger.info("harvest run %s is not queued any more; nothing to do", run_id)
        return None
    run = HarvestRun.objects.select_related("backend__domain").get(pk=run_id)
    try:
        report = _harvest(run)
    except BackendUnavailable as exc:
        _record_health(run.backend, ok=False, message=exc.message)
        return _finish(run_id, status=HarvestRun.Status.FAILED, report=None, message=exc.message)
    except Exception:
        logger.exception("harvest run %s failed", run_id)
        return _finish(
            run_id,
            status=HarvestRun.Status.FAILED,
            report=None,
            message="The harvest failed unexpectedly; the worker's log has the details.",
        )
    summary = ", ".join(f"{len(v)} {k}" for k, v in report.as_dict().items())
    return _finish(run_id, status=HarvestRun.Status.SUCCEEDED, report=report, message=f"Harvest finished: {summary}.")


def harvest_backend_now(*, actor: User, backend: Backend) -> HarvestRun:
    """Harvest synchronously, in this process (the demo loader and tests)."""
    ensure_can_edit(actor, backend)
    with transaction.atomic():
        run = HarvestRun.objects.create(backend=backend, requested_by=actor)
        audit_record(actor=actor, action="harvest.request", obj=run, details={"backend": str(backend), "now": True})
    harvest_run(run_id=run.pk)
    run.refresh_from_db()
    return run
