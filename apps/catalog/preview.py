"""The first rows of an open dataset, for its page. Refuses confidential datasets outright."""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError, BackendUnavailable
from apps.domains.connectors import connector_for
from apps.domains.permissions import ensure_can_view


class PreviewRefused(ApplicationError):
    status_code = 403
    code = "preview_refused"


@dataclass(frozen=True)
class Preview:
    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    message: str = ""


def dataset_preview(*, user: Any, dataset: Dataset, limit: int | None = None) -> Preview:
    """Read at most ``PORTAL_PREVIEW_ROWS`` rows of an open dataset's current columns.

    Raises ``PreviewRefused`` for a confidential dataset (or one of a confidential domain): its
    rows never leave the backend. An unreachable backend gives a ``Preview`` with a message.
    """
    ensure_can_view(user, dataset)
    if dataset.is_confidential or dataset.domain.is_confidential:
        raise PreviewRefused("A confidential dataset never shows rows: only differentially private access.")
    columns = [c.name for c in dataset.columns.filter(removed_at__isnull=True).order_by("position", "name")]
    if dataset.backend is None:
        return Preview(columns=columns, message="This dataset has no registered backend.")
    if dataset.removed_at is not None:
        return Preview(columns=columns, message="The last harvest no longer found this table.")
    limit = settings.PORTAL_PREVIEW_ROWS if limit is None else min(limit, settings.PORTAL_PREVIEW_ROWS)
    try:
        with connector_for(dataset.backend) as connector:
            rows = connector.preview_rows(dataset.table_schema, dataset.table_name, columns, limit)
    except BackendUnavailable as exc:
        return Preview(columns=columns, message=exc.message)
    return Preview(columns=columns, rows=rows)
