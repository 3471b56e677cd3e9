"""Freshness: a dataset's last data update against its product's freshness expectation.

``Dataset.data_updated_at`` is set by harvests (when a table appears, its schema changes, or an open
table's row count changes) and by OpenLineage COMPLETE events that write the dataset. A dataset is
*stale* when its product expects a freshness and the last update is older than that (or was never
seen); *fresh* when it is within it; without an expectation nothing is flagged.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class Freshness:
    status: str  # "fresh", "stale" or "" (no expectation)
    updated_at: dt.datetime | None
    expectation: dt.timedelta | None

    @property
    def is_stale(self) -> bool:
        return self.status == "stale"

    @property
    def message(self) -> str:
        if not self.status:
            return ""
        expected = _human(self.expectation)
        if self.updated_at is None:
            return f"Stale: no data update recorded; its product expects one at least every {expected}."
        if self.is_stale:
            return f"Stale: last updated {_human(timezone.now() - self.updated_at)} ago; expected every {expected}."
        return f"Fresh: updated within the expected {expected}."


def _human(delta: dt.timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def freshness_of(dataset: Any, *, now: dt.datetime | None = None) -> Freshness:
    product = dataset.product if getattr(dataset, "product_id", None) else None
    expectation = getattr(product, "freshness_expectation", None)
    updated = dataset.data_updated_at
    if expectation is None:
        return Freshness(status="", updated_at=updated, expectation=None)
    now = now or timezone.now()
    stale = updated is None or now - updated > expectation
    return Freshness(status="stale" if stale else "fresh", updated_at=updated, expectation=expectation)
