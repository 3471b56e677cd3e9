"""Reads behind the catalog pages, built on the visibility rules of ``selectors``: whatever a user
may not see is missing (``Http404``)."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from apps.catalog.models import Column, DataProduct, Dataset
from apps.catalog.preview import Preview, dataset_preview
from apps.catalog.selectors import dataset_get_for, dataset_list_for, domain_get_for, domain_list_for, product_get_for
from apps.domains.models import Domain
from apps.domains.permissions import can_edit


def _counted(user: Any) -> Q:
    """The datasets a count may include: current ones ``user`` may see (no hidden synthetic samples)."""
    return Q(datasets__in=dataset_list_for(user=user).values("pk"))


def _products(counted: Q) -> QuerySet[DataProduct]:
    return (
        DataProduct.objects.annotate(dataset_count=Count("datasets", filter=counted, distinct=True))
        .prefetch_related("tags", "owners")
        .order_by("name")
    )


def home_domains_for(*, user: Any) -> list[Domain]:
    """The domains the user sees, each with ``product_list`` and ``dataset_count``."""
    counted = _counted(user)
    return list(
        domain_list_for(user=user)
        .annotate(dataset_count=Count("datasets", filter=counted, distinct=True))
        .prefetch_related("owners", Prefetch("products", queryset=_products(counted), to_attr="product_list"))
    )


@dataclass(frozen=True)
class DomainPage:
    domain: Domain
    products: list[DataProduct]
    datasets: list[Dataset]
    can_edit: bool


def domain_page_for(*, user: Any, slug: str) -> DomainPage:
    domain = domain_get_for(user=user, slug=slug)
    return DomainPage(
        domain=domain,
        products=list(_products(_counted(user)).filter(domain=domain)),
        datasets=list(dataset_list_for(user=user).filter(domain=domain).prefetch_related("tags")),
        can_edit=can_edit(user, domain),
    )


@dataclass(frozen=True)
class ProductPage:
    product: DataProduct
    datasets: list[Dataset]
    can_edit: bool


def product_page_for(*, user: Any, domain_slug: str, slug: str) -> ProductPage:
    product = product_get_for(user=user, domain_slug=domain_slug, slug=slug)
    return ProductPage(
        product=product,
        datasets=list(dataset_list_for(user=user).filter(product=product).prefetch_related("tags")),
        can_edit=can_edit(user, product),
    )


@dataclass(frozen=True)
class DatasetPage:
    dataset: Dataset
    can_edit: bool
    preview: Preview | None


def dataset_page_for(*, user: Any, address: str) -> DatasetPage:
    """The dataset with its current columns; a preview for open datasets only, never for confidential ones."""
    dataset = dataset_get_for(user=user, address=address)
    confidential = dataset.is_confidential or dataset.domain.is_confidential
    return DatasetPage(
        dataset=dataset,
        can_edit=can_edit(user, dataset),
        preview=None if confidential else dataset_preview(user=user, dataset=dataset),
    )


def column_get_for(*, user: Any, address: str, pk: int) -> Column:
    """A current column of a visible dataset, by id (column names need not fit in a URL)."""
    dataset = dataset_get_for(user=user, address=address)
    for column in dataset.current_columns:
        if column.pk == pk:
            column.dataset = dataset
            return column
    raise Http404("Not found.")
