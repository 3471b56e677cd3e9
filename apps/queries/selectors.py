"""Reads of DP query jobs. A user sees only their own jobs, on datasets they may still see."""

import csv
import io
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.csv import csv_cell
from apps.domains.permissions import visible_domains
from apps.privacy.composition import PrivacyCost
from apps.queries.models import QueryJob


def query_job_list_for(*, user: Any) -> QuerySet[QueryJob]:
    """The user's history, newest first."""
    if user is None or not user.is_authenticated:
        return QueryJob.objects.none()
    return (
        QueryJob.objects.filter(owner=user, dataset__domain__in=visible_domains(user))
        .select_related("dataset__domain", "reservation", "memo_source")
        .prefetch_related("reservation__endings")
    )


def query_job_get_for(*, user: Any, pk: Any) -> QueryJob:
    """The job, or ``Http404`` for missing jobs and other people's jobs alike."""
    try:
        return query_job_list_for(user=user).get(pk=pk)
    except (QueryJob.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def query_memo_source(
    *,
    owner: User,
    dataset: Dataset,
    dataset_version: int,
    normalized_sql: str,
    mechanism: str,
    epsilon: Decimal,
    rho: Decimal,
    delta: Decimal,
) -> QueryJob | None:
    """The owner's earlier answer to the same query with the same parameters on the same version
    of the dataset: it is given again for free instead of drawing fresh noise."""
    return (
        QueryJob.objects.filter(
            owner=owner,
            dataset=dataset,
            dataset_version=dataset_version,
            normalized_sql=normalized_sql,
            mechanism=mechanism,
            epsilon=epsilon,
            rho=rho,
            delta=delta,
            status=QueryJob.Status.SUCCEEDED,
            memo_source__isnull=True,
        )
        .order_by("created_at", "id")
        .first()
    )


def query_job_cost(job: QueryJob) -> PrivacyCost:
    """What the job reserved (and then spent or got back); a memoized answer costs nothing."""
    if job.reservation is None:
        return PrivacyCost()
    return PrivacyCost(epsilon=job.reservation.epsilon, delta=job.reservation.delta, rho=job.reservation.rho)


def query_job_charge(job: QueryJob) -> str:
    """free (a memoized answer), reserved (not ended yet), charged or released."""
    if job.reservation is None:
        return "free"
    kinds = {ending.kind for ending in job.reservation.endings.all()}
    return "charged" if "commit" in kinds else "released" if "release" in kinds else "reserved"


def query_result_csv(job: QueryJob) -> str:
    """The stored noisy answer as CSV: the output columns, then a 95% interval per output that has one."""
    result = job.result or {}
    columns = [str(name) for name in result.get("columns", [])]
    rows = result.get("rows", [])
    intervals = result.get("ci") or [[None] * len(columns) for _ in rows]
    with_ci = [
        i for i in range(len(columns)) if any(isinstance(ci[i], list | tuple) for ci in intervals if len(ci) > i)
    ]
    header = columns + [f"{columns[i]} {end} (95%)" for i in with_ci for end in ("low", "high")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in header])
    for row, cis in zip(rows, intervals, strict=False):
        bounds = []
        for i in with_ci:
            ci = cis[i] if len(cis) > i and isinstance(cis[i], list | tuple) else (None, None)
            bounds += [ci[0], ci[1]]
        writer.writerow([csv_cell(value) for value in [*row, *bounds]])
    return out.getvalue()
