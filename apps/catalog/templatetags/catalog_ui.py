"""Small display helpers for the catalog pages."""

from datetime import timedelta
from decimal import Decimal

from django import template

from apps.catalog.forms import plain_number

register = template.Library()


@register.filter(name="plain_number")
def plain_number_filter(value: Decimal | None) -> str:
    """``17.0000000000`` → ``17``; ``None`` → empty."""
    return plain_number(value)


@register.filter
def duration_human(value: timedelta | None) -> str:
    if value is None:
        return ""
    hours = value.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    if hours >= 1:
        whole = int(hours) if hours == int(hours) else round(hours, 1)
        return f"{whole} hour{'' if whole == 1 else 's'}"
    minutes = round(value.total_seconds() / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"
