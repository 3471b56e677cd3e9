"""Reads of the catalog. Every list a user sees starts from ``dataset_list_for``."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from apps.catalog.models import Column, DataProduct, Dataset
from apps.domains.models import Domain
from apps.domains.permissions import hidden_synthetic_ids, visible_domains


def _from_url(*texts: str | None) -> None:
    """An address, slug or name from a URL with a NUL character names nothing (PostgreSQL text
    cannot hold one, and would answer with an error rather than no rows)."""
    if any(text is not None and "\x00" in str(text) for text in texts):
        raise Http404("Not found.")


def domain_list_for(*, user: Any) -> QuerySet[Domain]:
    return visible_domains(user).order_by("name")


def domain_get_for(*, user: Any, slug: str) -> Domain:
    _from_url(slug)
    try:
        return domain_list_for(user=user).get(slug=slug)
    except Domain.DoesNotExist:
        raise Http404("Not found.") from None


def product_list_for(*, user: Any) -> QuerySet[DataProduct]:
    return (
        DataProduct.objects.filter(domain__in=visible_domains(user))
        .select_related("domain")
        .prefetch_related("tags", "owners")
    )


def product_get_for(*, user: Any, domain_slug: str, slug: str) -> DataProduct:
    _from_url(domain_slug, slug)
    try:
        return product_list_for(user=user).get(domain__slug=domain_slug, slug=slug)
    except DataProduct.DoesNotExist:
        raise Http404("Not found.") from None


def dataset_list_for(*, user: Any, include_removed: bool = False) -> QuerySet[Dataset]:
    datasets = Dataset.objects.filter(domain__in=visible_domains(user)).select_related("domain", "product", "backend")
    if not include_removed:
        datasets = datasets.filter(removed_at__isnull=True)
    hidden = hidden_synthetic_ids(user, datasets)  # DP samples: for readers of their source only
    return datasets.exclude(pk__in=hidden) if hidden else datasets


def dataset_get_for(*, user: Any, address: str | None = None, pk: int | None = None) -> Dataset:
    """The dataset, or ``Http404`` for missing and invisible datasets alike."""
    _from_url(address)
    lookup = {"address": address} if address is not None else {"pk": pk}
    current_columns = Column.objects.filter(removed_at__isnull=True).prefetch_related("tags")
    try:
        return (
            dataset_list_for(user=user, include_removed=True)
            .prefetch_related("tags", Prefetch("columns", queryset=current_columns, to_attr="current_columns"))
            .get(**lookup)
        )
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def column_get_for(*, user: Any, dataset_address: str, name: str) -> Column:
    _from_url(name)
    dataset = dataset_get_for(user=user, address=dataset_address)
    try:
        return dataset.columns.get(name=name, removed_at__isnull=True)
    except Column.DoesNotExist:
        raise Http404("Not found.") from None
