"""Reads of harvest runs, filtered by what the user may see."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.catalog.models import HarvestRun
from apps.domains.models import Backend
from apps.domains.permissions import visible_domains


def harvest_run_list_for(*, user: Any, backend: Backend | None = None) -> QuerySet[HarvestRun]:
    runs = HarvestRun.objects.filter(backend__domain__in=visible_domains(user)).select_related(
        "backend__domain", "requested_by"
    )
    if backend is not None:
        runs = runs.filter(backend=backend)
    return runs


def harvest_run_get_for(*, user: Any, pk: int) -> HarvestRun:
    """The run, or ``Http404`` for missing and invisible runs alike."""
    try:
        return harvest_run_list_for(user=user).get(pk=pk)
    except (HarvestRun.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
