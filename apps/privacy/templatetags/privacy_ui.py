"""Display helpers of the privacy pages, and the privacy panel of the catalog's dataset page."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

from apps.privacy.browse import DatasetAccess, dataset_access_for
from apps.privacy.forms import plain
from apps.privacy.models import Mechanism

register = template.Library()


@register.filter
def amount(value: Decimal | None) -> str:
    """``2.000000000000`` → ``2``; infinite → ``∞``; missing → ``—``."""
    if value is None or value == "":
        return "—"
    if not Decimal(value).is_finite():
        return "∞"
    return plain(Decimal(value))


@register.filter
def is_past(value: datetime | None) -> bool:
    return value is not None and value <= timezone.now()


SHORT_MECHANISMS = {Mechanism.LAPLACE: "Laplace", Mechanism.GAUSSIAN: "Gaussian", Mechanism.SYNTHESIZER: "synthesizers"}


@register.filter
def mechanism_labels(values: list[str]) -> str:
    return ", ".join(SHORT_MECHANISMS.get(value, value) for value in values) or "none"


@register.simple_tag(takes_context=True)
def dataset_access(context: template.Context, dataset: Any) -> DatasetAccess | None:
    """The viewer's access to a confidential dataset (``None`` for open ones)."""
    user = context.get("user")
    if dataset is None or not dataset.is_confidential or user is None or not user.is_authenticated:
        return None
    return dataset_access_for(user=user, dataset=dataset)
