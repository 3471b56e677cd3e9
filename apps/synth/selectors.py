"""Reads of synthetic-data jobs.

Who sees a job: the person who submitted it; once it succeeded, everyone who may see its sample in
the catalog (users with synthetic access to the source, see
``apps.domains.permissions.can_read_synthetic``); the source's owners see every job on it (they
fund the previews and answer for the budget). The owner-funded preview of a dataset is shown on the
dataset's page to everyone who may see the dataset. Anything else is 404, like a missing job.
"""

from typing import Any

import pandas as pd
from django.db.models import Q, QuerySet
from django.http import Http404
from pyarrow import ArrowException

from apps.catalog.models import Dataset
from apps.catalog.selectors import dataset_get_for
from apps.domains.permissions import can_manage_policies, can_view, visible_domains
from apps.privacy.composition import PrivacyCost
from apps.synth import storage
from apps.synth.models import SynthJob


def _base() -> QuerySet[SynthJob]:
    return SynthJob.objects.select_related(
        "dataset__domain", "dataset__product", "reservation", "output", "owner"
    ).prefetch_related("reservation__endings")


def dataset_for(*, user: Any, address: Any) -> Dataset:
    """``dataset_get_for`` for an address a user typed: text PostgreSQL cannot hold (a NUL) is 404 too."""
    if not isinstance(address, str) or "\x00" in address:
        raise Http404("Not found.")
    return dataset_get_for(user=user, address=address)


def synth_job_list_for(*, user: Any) -> QuerySet[SynthJob]:
    """The user's own sample jobs, newest first."""
    if user is None or not user.is_authenticated:
        return SynthJob.objects.none()
    return _base().filter(owner=user, purpose=SynthJob.Purpose.SAMPLE, dataset__domain__in=visible_domains(user))


def synth_job_get_for(*, user: Any, pk: Any) -> SynthJob:
    """The job, or ``Http404`` for missing jobs and jobs the user may not see alike."""
    if user is None or not user.is_authenticated or not user.is_active:
        raise Http404("Not found.")
    try:
        job = _base().filter(dataset__domain__in=visible_domains(user)).get(pk=pk)
    except (SynthJob.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("Not found.") from None
    if job.owner_id == user.pk and job.purpose == SynthJob.Purpose.SAMPLE:
        return job
    if can_manage_policies(user, job.dataset):
        return job
    if job.status == SynthJob.Status.SUCCEEDED and job.output is not None and can_view(user, job.output):
        return job
    raise Http404("Not found.")


def synth_jobs_of_dataset(*, user: Any, dataset: Dataset) -> list[SynthJob]:
    """The finished samples of a dataset the user may see (their own jobs of any state included)."""
    jobs = (
        _base()
        .filter(dataset=dataset, purpose=SynthJob.Purpose.SAMPLE)
        .filter(Q(owner=user) | Q(status=SynthJob.Status.SUCCEEDED, output__isnull=False))[:50]
    )
    return [job for job in jobs if job.owner_id == user.pk or can_view(user, job.output)]


def synth_preview_for(*, user: Any, dataset: Dataset) -> SynthJob | None:
    """The latest finished preview of a dataset the user may see (free for every viewer)."""
    if not can_view(user, dataset):
        return None
    return (
        SynthJob.objects.filter(
            dataset=dataset, purpose=SynthJob.Purpose.PREVIEW, status=SynthJob.Status.SUCCEEDED
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def synth_preview_pending(*, dataset: Dataset) -> SynthJob | None:
    return (
        SynthJob.objects.filter(
            dataset=dataset,
            purpose=SynthJob.Purpose.PREVIEW,
            status__in=[SynthJob.Status.QUEUED, SynthJob.Status.RUNNING],
        )
        .order_by("-created_at")
        .first()
    )


def synth_preview_sample(job: SynthJob, *, limit: int = 100) -> dict[str, Any]:
    """The preview's small sample as columns and rows (already a DP release: free to show)."""
    try:
        frame = storage.sample_read(job.pk, limit=limit)
    except (OSError, ArrowException):  # missing or damaged: the page shows no rows rather than failing
        return {"columns": [], "rows": []}
    rows = [[None if pd.isna(value) else value for value in row] for row in frame.itertuples(index=False)]
    return {"columns": [str(name) for name in frame.columns], "rows": rows}


def synth_job_cost(job: SynthJob) -> PrivacyCost:
    if job.reservation is None:
        return PrivacyCost()
    return PrivacyCost(epsilon=job.reservation.epsilon, delta=job.reservation.delta, rho=job.reservation.rho)


def synth_job_charge(job: SynthJob) -> str:
    """reserved (not ended yet), charged or released."""
    if job.reservation is None:
        return "free"
    kinds = {ending.kind for ending in job.reservation.endings.all()}
    return "charged" if "commit" in kinds else "released" if "release" in kinds else "reserved"
