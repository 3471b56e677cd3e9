"""Reads of registered backends, filtered by what the user may see."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.domains.models import Backend
from apps.domains.permissions import visible_domains


def backend_list_for(*, user: Any, domain_slug: str | None = None) -> QuerySet[Backend]:
    backends = Backend.objects.filter(domain__in=visible_domains(user)).select_related("domain")
    if domain_slug is not None:
        backends = backends.filter(domain__slug=domain_slug)
    return backends.order_by("domain__slug", "slug")


def backend_get_for(
    *, user: Any, pk: int | None = None, domain_slug: str | None = None, slug: str | None = None
) -> Backend:
    """The backend, or ``Http404`` for missing and invisible backends alike."""
    lookup = {"pk": pk} if pk is not None else {"domain__slug": domain_slug, "slug": slug}
    try:
        return backend_list_for(user=user).get(**lookup)
    except (Backend.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
