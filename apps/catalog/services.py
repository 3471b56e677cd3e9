"""What owners change in the catalog. Each service checks rights with the one permission check,
validates, and writes its audit row (with before and after values) in the same transaction."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.text import slugify

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset, Tag
from apps.catalog.search_index import dataset_reindex
from apps.catalog.validation import check_bounds, parse_bound, parse_categories, parse_tags
from apps.core.errors import ApplicationError
from apps.domains.models import Domain, Sensitivity
from apps.domains.permissions import ensure_can_edit
from apps.usage.services import audit_record

UNSET: Any = object()
MAX_ROWS_PER_UNIT_LIMIT = 100_000
MAX_TEXT_LENGTH = 20_000


def _text(value: Any, *, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        raise ApplicationError(f"{field} must be text.", field=field)
    if len(value) > max_length or "\x00" in value:
        raise ApplicationError(f"{field} must be at most {max_length} characters of text.", field=field)
    return value.strip()


def _choice(value: Any, *, choices: type, field: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ApplicationError(f"{field} must be one of: {allowed}.", field=field)
    return value


def _tags(names: list[str]) -> list[Tag]:
    return [Tag.objects.get_or_create(name=name)[0] for name in names]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _apply(obj: Any, changes: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> None:
    for name, value in changes.items():
        old = getattr(obj, name)
        if old != value:
            before[name], after[name] = _jsonable(old), _jsonable(value)
            setattr(obj, name, value)


def _set_tags(obj: Any, names: list[str], before: dict[str, Any], after: dict[str, Any]) -> None:
    old = sorted(tag.name for tag in obj.tags.all())
    if old != sorted(names):
        before["tags"], after["tags"] = old, sorted(names)
        obj.tags.set(_tags(names))


@transaction.atomic
def column_update(
    *,
    actor: User,
    column: Column,
    description: Any = UNSET,
    classification: Any = UNSET,
    tags: Any = UNSET,
    lower_bound: Any = UNSET,
    upper_bound: Any = UNSET,
    categories: Any = UNSET,
    request_id: str = "",
) -> Column:
    ensure_can_edit(actor, column)
    column = Column.objects.select_for_update().select_related("dataset__domain").get(pk=column.pk)
    changes: dict[str, Any] = {}
    if description is not UNSET:
        changes["description"] = _text(description, field="description")
    if classification is not UNSET:
        changes["classification"] = _choice(classification, choices=Column.Classification, field="classification")
        changes["classification_confirmed"] = True
    if lower_bound is not UNSET or upper_bound is not UNSET:
        lower = parse_bound(lower_bound, field="lower_bound") if lower_bound is not UNSET else column.lower_bound
        upper = parse_bound(upper_bound, field="upper_bound") if upper_bound is not UNSET else column.upper_bound
        if (lower is not None or upper is not None) and not column.is_numeric:
            raise ApplicationError("Bounds can only be declared on numeric columns.", field="lower_bound")
        check_bounds(lower, upper)
        changes["lower_bound"], changes["upper_bound"] = lower, upper
    if categories is not UNSET:
        changes["categories"] = parse_categories(categories)

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _apply(column, changes, before, after)
    if tags is not UNSET:
        _set_tags(column, parse_tags(tags), before, after)
    if before or after:
        column.save()
        dataset = column.dataset
        if {"lower_bound", "upper_bound", "categories"} & after.keys():
            Dataset.objects.filter(pk=dataset.pk).update(version=dataset.version + 1)
        dataset_reindex(dataset)
        audit_record(
            actor=actor, action="column.update", obj=column, request_id=request_id,
            details={"before": before, "after": after},
        )
    return column


@transaction.atomic
def dataset_update(
    *,
    actor: User,
    dataset: Dataset,
    description: Any = UNSET,
    tags: Any = UNSET,
    sensitivity: Any = UNSET,
    privacy_unit_column: Any = UNSET,
    max_rows_per_unit: Any = UNSET,
    product: Any = UNSET,
    request_id: str = "",
) -> Dataset:
    ensure_can_edit(actor, dataset)
    dataset = Dataset.objects.select_for_update().select_related("domain").get(pk=dataset.pk)
    changes: dict[str, Any] = {}
    if description is not UNSET:
        changes["description"] = _text(description, field="description")
    if sensitivity is not UNSET:
        value = _choice(sensitivity, choices=Sensitivity, field="sensitivity")
        if dataset.domain.is_confidential and value != Sensitivity.CONFIDENTIAL:
            raise ApplicationError(
                "A dataset of a confidential domain must stay confidential.", field="sensitivity"
            )
        changes["sensitivity"] = value
    if privacy_unit_column is not UNSET:
        name = _text(privacy_unit_column, field="privacy_unit_column", max_length=200)
        if name and not dataset.columns.filter(name=name, removed_at__isnull=True).exists():
            raise ApplicationError(
                "The privacy unit must be one of the dataset's columns.", field="privacy_unit_column"
            )
        changes["privacy_unit_column"] = name
    if max_rows_per_unit is not UNSET:
        if isinstance(max_rows_per_unit, bool) or not isinstance(max_rows_per_unit, int | str):
            raise ApplicationError("max_rows_per_unit must be a whole number.", field="max_rows_per_unit")
        try:
            rows = int(max_rows_per_unit)
        except ValueError:
            raise ApplicationError("max_rows_per_unit must be a whole number.", field="max_rows_per_unit") from None
        if not 1 <= rows <= MAX_ROWS_PER_UNIT_LIMIT:
            raise ApplicationError(
                f"max_rows_per_unit must be between 1 and {MAX_ROWS_PER_UNIT_LIMIT}.", field="max_rows_per_unit"
            )
        changes["max_rows_per_unit"] = rows
    if product is not UNSET:
        if product is not None and product.domain_id != dataset.domain_id:
            raise ApplicationError("The product must belong to the dataset's domain.", field="product")
        changes["product"] = product

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _apply(dataset, changes, before, after)
    if "product" in after:
        before["product"] = str(before["product"]) if before["product"] else None
        after["product"] = str(after["product"]) if after["product"] else None
    if tags is not UNSET:
        _set_tags(dataset, parse_tags(tags), before, after)
    if before or after:
        if {"sensitivity", "privacy_unit_column", "max_rows_per_unit"} & after.keys():
            dataset.version += 1
        dataset.save()
        dataset_reindex(dataset)
        audit_record(
            actor=actor, action="dataset.update", obj=dataset, request_id=request_id,
            details={"before": before, "after": after},
        )
    return dataset


def _parse_freshness(value: Any) -> timedelta | None:
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        hours = value.total_seconds() / 3600
    else:
        try:
            hours = float(value)
        except (TypeError, ValueError):
            raise ApplicationError("freshness_hours must be a number of hours.", field="freshness_hours") from None
    if not 0 < hours <= 24 * 3660:
        raise ApplicationError("freshness_hours must be between 0 and ten years.", field="freshness_hours")
    return timedelta(hours=hours)


@transaction.atomic
def product_create(
    *,
    actor: User,
    domain: Domain,
    slug: str,
    name: str,
    description: str = "",
    tags: Any = None,
    status: str = DataProduct.Status.ACTIVE,
    freshness_hours: Any = None,
    request_id: str = "",
) -> DataProduct:
    ensure_can_edit(actor, domain)
    clean_slug = slugify(_text(slug, field="slug", max_length=63))
    if not clean_slug:
        raise ApplicationError("slug needs letters or digits.", field="slug")
    if DataProduct.objects.filter(domain=domain, slug=clean_slug).exists():
        raise ApplicationError("A product with this slug already exists in the domain.", field="slug")
    product = DataProduct.objects.create(
        domain=domain,
        slug=clean_slug,
        name=_text(name, field="name", max_length=200) or clean_slug,
        description=_text(description, field="description"),
        status=_choice(status, choices=DataProduct.Status, field="status"),
        freshness_expectation=_parse_freshness(freshness_hours),
    )
    product.tags.set(_tags(parse_tags(tags)))
    product.owners.add(actor)
    audit_record(actor=actor, action="product.create", obj=product, request_id=request_id)
    return product


@transaction.atomic
def product_update(
    *,
    actor: User,
    product: DataProduct,
    name: Any = UNSET,
    description: Any = UNSET,
    tags: Any = UNSET,
    status: Any = UNSET,
    freshness_hours: Any = UNSET,
    owners: Any = UNSET,
    request_id: str = "",
) -> DataProduct:
    ensure_can_edit(actor, product)
    product = DataProduct.objects.select_for_update().get(pk=product.pk)
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = _text(name, field="name", max_length=200) or product.name
    if description is not UNSET:
        changes["description"] = _text(description, field="description")
    if status is not UNSET:
        changes["status"] = _choice(status, choices=DataProduct.Status, field="status")
    if freshness_hours is not UNSET:
        changes["freshness_expectation"] = _parse_freshness(freshness_hours)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _apply(product, changes, before, after)
    if tags is not UNSET:
        _set_tags(product, parse_tags(tags), before, after)
    if owners is not UNSET:
        users = list(User.objects.filter(username__in=owners, is_active=True))
        if len(users) != len(set(owners)):
            raise ApplicationError("Every owner must be an active user.", field="owners")
        old = sorted(u.username for u in product.owners.all())
        if old != sorted(u.username for u in users):
            before["owners"], after["owners"] = old, sorted(u.username for u in users)
            product.owners.set(users)
    if before or after:
        product.save()
        for dataset in product.datasets.all():
            dataset_reindex(dataset)
        audit_record(
            actor=actor, action="product.update", obj=product, request_id=request_id,
            details={"before": before, "after": after},
        )
    return product


@transaction.atomic
def domain_update(
    *,
    actor: User,
    domain: Domain,
    name: Any = UNSET,
    description: Any = UNSET,
    sensitivity: Any = UNSET,
    visible_to_groups: Any = UNSET,
    request_id: str = "",
) -> Domain:
    """Raising a domain to confidential makes all its datasets confidential in the same transaction."""
    ensure_can_edit(actor, domain)
    domain = Domain.objects.select_for_update().get(pk=domain.pk)
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = _text(name, field="name", max_length=200) or domain.name
    if description is not UNSET:
        changes["description"] = _text(description, field="description")
    if sensitivity is not UNSET:
        changes["sensitivity"] = _choice(sensitivity, choices=Sensitivity, field="sensitivity")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _apply(domain, changes, before, after)
    if visible_to_groups is not UNSET:
        groups = list(Group.objects.filter(name__in=visible_to_groups))
        if len(groups) != len(set(visible_to_groups)):
            raise ApplicationError("Every group must exist.", field="visible_to_groups")
        old = sorted(g.name for g in domain.visible_to_groups.all())
        if old != sorted(g.name for g in groups):
            before["visible_to_groups"], after["visible_to_groups"] = old, sorted(g.name for g in groups)
            domain.visible_to_groups.set(groups)
    if before or after:
        domain.save()
        if after.get("sensitivity") == Sensitivity.CONFIDENTIAL:
            # DP synthetic samples are releases already: they stay as they are.
            domain.datasets.exclude(sensitivity=Sensitivity.CONFIDENTIAL).exclude(kind=Dataset.Kind.SYNTHETIC).update(
                sensitivity=Sensitivity.CONFIDENTIAL, row_count=None
            )
        audit_record(
            actor=actor, action="domain.update", obj=domain, request_id=request_id,
            details={"before": before, "after": after},
        )
    return domain
