"""Parsing of privacy amounts typed by people or sent to the API. Pure functions."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.core.errors import ApplicationError
from apps.privacy.composition import DELTA_PLACES, EPSILON_PLACES
from apps.privacy.models import AccessMode, Mechanism

MAX_EPSILON = Decimal(1000)


def parse_amount(
    raw: Any, *, field: str, allow_zero: bool = True, maximum: Decimal = MAX_EPSILON, places: Decimal = EPSILON_PLACES
) -> Decimal:
    """A finite, non-negative Decimal with at most the stored number of places."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
        raise ApplicationError(f"{field} must be a number.", field=field)
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"{field} must be a number.", field=field) from None
    if not value.is_finite():
        raise ApplicationError(f"{field} must be a finite number.", field=field)
    if value < 0 or (value == 0 and not allow_zero):
        raise ApplicationError(f"{field} must be {'at least' if allow_zero else 'above'} zero.", field=field)
    if value > maximum:
        raise ApplicationError(f"{field} must be at most {maximum.normalize()}.", field=field)
    if value != value.quantize(places):
        raise ApplicationError(f"{field} has more decimal places than the {places.normalize():f} allowed.", field=field)
    return value


def parse_epsilon(raw: Any, *, field: str = "epsilon", allow_zero: bool = True) -> Decimal:
    return parse_amount(raw, field=field, allow_zero=allow_zero)


def parse_delta(raw: Any, *, field: str = "delta") -> Decimal:
    value = parse_amount(raw, field=field, maximum=Decimal(1), places=DELTA_PLACES)
    if value >= 1:
        raise ApplicationError(f"{field} must be below 1.", field=field)
    return value


def parse_mode(raw: Any) -> str:
    if raw not in AccessMode.values:
        raise ApplicationError(f"access_mode must be one of: {', '.join(AccessMode.values)}.", field="access_mode")
    return raw


def parse_mechanisms(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [item.strip() for item in raw.split(",") if item.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ApplicationError("allowed_mechanisms must be a list of mechanism names.", field="allowed_mechanisms")
    unknown = sorted(set(raw) - set(Mechanism.values))
    if unknown:
        raise ApplicationError(
            f"Unknown mechanism: {', '.join(unknown)[:100]}; choose from {', '.join(Mechanism.values)}.",
            field="allowed_mechanisms",
        )
    return sorted(set(raw))


def parse_expiry(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    message = "expires_at must be a date (YYYY-MM-DD) or a date and time."
    if isinstance(raw, datetime):
        value: datetime | None = raw
    elif isinstance(raw, str) and len(raw) <= 40:
        try:
            value = parse_datetime(raw.strip())
            if value is None:
                day = parse_date(raw.strip())
                value = datetime(day.year, day.month, day.day) if day else None
        except ValueError:
            value = None
    else:
        value = None
    if value is None:
        raise ApplicationError(message, field="expires_at")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value
