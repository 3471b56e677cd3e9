"""The machinery shared by the portal's background jobs (DP queries, synthetic data).

A job is a model row with a ``status`` (``queued`` → ``running`` → an end), ``attempts``,
``started_at``, ``heartbeat_at``, ``sent_at`` and ``created_at``; the database is the source of
truth and the broker only carries the job's id. The functions here take the model class (or a
queryset) and do what is the same for every kind of job: claim a queued job exactly once, beat its
heartbeat from a thread, find the running jobs whose heartbeat stopped and the queued jobs the
broker may have lost, hand an id to the broker, log an unexpected error without its text. What a
job's end means (its budget committed or released, its audit row) stays in each app's services.
"""

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone

QUEUED = "queued"
RUNNING = "running"
SWEEP_BATCH = 1000


def setting(name: str, default: float) -> float:
    """A number from the settings, ``default`` when it is not set."""
    return float(getattr(settings, name, default))


def claim(model: type[Model], job_id: int, *, now: datetime | None = None, **fields: Any) -> bool:
    """Move the job from queued to running with one conditional UPDATE: True for the one caller that
    claimed it, False for a duplicate delivery or a second worker. ``fields`` are set as well."""
    now = now or timezone.now()
    claimed = model._default_manager.filter(pk=job_id, status=QUEUED).update(
        status=RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, **fields
    )
    return claimed == 1


def stalled(model: type[Model], after: timedelta, *, now: datetime | None = None) -> QuerySet[Any]:
    """The running jobs whose heartbeat is older than ``after`` (or never beat): their worker stopped."""
    cutoff = (now or timezone.now()) - after
    return model._default_manager.filter(status=RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )


def lost(model: type[Model], after: timedelta, *, now: datetime | None = None) -> list[tuple[int, str]]:
    """The queued jobs sent (or created, never sent) longer ago than ``after``, oldest first, as
    (id, domain slug): the broker may have lost them."""
    cutoff = (now or timezone.now()) - after
    waiting = (
        model._default_manager.filter(status=QUEUED)
        .filter(Q(sent_at__lt=cutoff) | Q(sent_at__isnull=True, created_at__lt=cutoff))
        .values_list("pk", "dataset__domain__slug")
        .order_by("created_at")[:SWEEP_BATCH]
    )
    return list(waiting)


def sweep(
    model: type[Model],
    *,
    resend_after: timedelta,
    stalled_after: timedelta,
    send: Callable[[int, str], bool],
    fail_stalled: Callable[[int], bool],
    log: logging.Logger,
    label: str,
) -> dict[str, int]:
    """Send again the jobs the broker may have lost (``send(id, domain slug)``); fail the running
    jobs whose worker stopped (``fail_stalled(id)``, the app's rule for what that costs)."""
    now = timezone.now()
    resent = sum(send(pk, slug) for pk, slug in lost(model, resend_after, now=now))
    running = stalled(model, stalled_after, now=now)
    failed = sum(fail_stalled(pk) for pk in list(running.values_list("pk", flat=True)[:SWEEP_BATCH]))
    if resent or failed:
        log.info("%s sweep: %s job(s) sent again, %s stalled job(s) failed", label, resent, failed)
    return {"resent": resent, "failed": failed}


def send(task: Any, model: type[Model], job_id: int, queue: str, *, log: logging.Logger, label: str) -> bool:
    """Hand the job's id to the broker and note when. A broker that is down leaves the job queued
    (False): the sweeper sends it later."""
    try:
        task.apply_async(args=[job_id], queue=queue)
    except Exception as exc:
        log.warning(
            "%s job %s: the broker is unreachable (%s); the sweeper sends it later", label, job_id, type(exc).__name__
        )
        return False
    model._default_manager.filter(pk=job_id, status=QUEUED).update(sent_at=timezone.now())
    return True


@contextmanager
def heartbeat(
    model: type[Model], job_id: int, *, seconds: Callable[[], float], log: logging.Logger, label: str
) -> Iterator[None]:
    """Beat the running job's ``heartbeat_at`` every ``seconds()`` from a thread (with its own
    database connection) while the body works."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(seconds()):
                try:
                    model._default_manager.filter(pk=job_id, status=RUNNING).update(heartbeat_at=timezone.now())
                except Exception as exc:  # a busy database: try again at the next beat
                    log.warning("%s job %s: heartbeat not written (%s)", label, job_id, type(exc).__name__)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"{label}-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=5)


def log_unexpected(log: logging.Logger, label: str, job_id: int, stage: str, exc: BaseException) -> None:
    """Log an unexpected error by its class and traceback lines: its text may quote data, so never that."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s job %s failed while %s: %s\n%s", label, job_id, stage, type(exc).__name__, frames)
