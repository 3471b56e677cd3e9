"""Parsing and validation of what owners declare: bounds, categories, tags. Pure functions."""

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.text import slugify

from apps.core.errors import ApplicationError

MAX_CATEGORIES = 1000
MAX_CATEGORY_LENGTH = 200
MAX_TAGS = 50
_BOUND_LIMIT = Decimal("1e19")


def parse_bound(raw: Any, *, field: str) -> Decimal | None:
    """A finite decimal within what the database stores, or None for an empty value."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ApplicationError(f"{field} must be a number.", field=field)
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"{field} must be a number.", field=field) from None
    if not value.is_finite():
        raise ApplicationError(f"{field} must be a finite number.", field=field)
    if abs(value) >= _BOUND_LIMIT:
        raise ApplicationError(f"{field} must lie between -1e19 and 1e19.", field=field)
    return value.quantize(Decimal("1e-10")) if value.as_tuple().exponent < -10 else value


def check_bounds(lower: Decimal | None, upper: Decimal | None) -> None:
    if (lower is None) != (upper is None):
        raise ApplicationError("Declare both bounds, or neither.", field="lower_bound")
    if lower is not None and upper is not None and not lower < upper:
        raise ApplicationError("The lower bound must be below the upper bound.", field="lower_bound")


def parse_categories(raw: Any) -> list[str]:
    """A list of distinct, non-empty strings. A string is split on newlines (one category a line)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        items: Iterable[Any] = raw.splitlines()
    elif isinstance(raw, list):
        items = raw
    else:
        raise ApplicationError("Categories must be a list of strings.", field="categories")
    categories: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ApplicationError("Categories must be a list of strings.", field="categories")
        category = item.strip()
        if not category:
            if isinstance(raw, str):
                continue
            raise ApplicationError("A category cannot be empty.", field="categories")
        if len(category) > MAX_CATEGORY_LENGTH or "\x00" in category:
            raise ApplicationError(
                f"A category must be at most {MAX_CATEGORY_LENGTH} characters of text.", field="categories"
            )
        categories.append(category)
    if len(categories) != len(set(categories)):
        raise ApplicationError("Categories must be unique.", field="categories")
    if len(categories) > MAX_CATEGORIES:
        raise ApplicationError(f"At most {MAX_CATEGORIES} categories can be declared.", field="categories")
    return categories


def parse_tags(raw: Any) -> list[str]:
    """Tag names as slugs; a string is split on commas."""
    if raw is None:
        return []
    if isinstance(raw, str):
        items: Iterable[Any] = raw.split(",")
    elif isinstance(raw, list):
        items = raw
    else:
        raise ApplicationError("Tags must be a list of names.", field="tags")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ApplicationError("Tags must be a list of names.", field="tags")
        tag = slugify(item.strip())[:63]
        if item.strip() and not tag:
            raise ApplicationError("A tag needs letters or digits.", field="tags")
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ApplicationError(f"At most {MAX_TAGS} tags.", field="tags")
    return tags
