"""Reads of the audit trail. Admins see every row; a domain's owners see the rows about their
domains (``AuditEvent.domain_id``); everyone else gets a 404."""

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.core.csv import csv_cell
from apps.domains.models import Domain
from apps.domains.permissions import can_manage_policies, visible_domains
from apps.usage.models import AuditEvent

PAGE_SIZE = 50


def audit_domains_for(user: Any) -> list[int] | None:
    """None for admins (every row); the ids of the domains the user owns; Http404 when none."""
    if user is not None and user.is_authenticated and user.is_active and user.is_superuser:
        return None
    owned = [d.pk for d in visible_domains(user) if can_manage_policies(user, d)]
    if not owned:
        raise Http404("Not found.")
    return owned


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    outcome: str = ""
    object: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    before: int | None = None

    @classmethod
    def parse(cls, params: Any) -> "AuditFilters":
        """Lenient: a value that does not parse is ignored, never an error."""

        def text(name: str, size: int = 150) -> str:
            return " ".join(str(params.get(name, "") or "").split())[:size]

        def day(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(text(name, 10))
            except ValueError:
                return None

        before = text("before", 20)
        outcome = text("outcome", 16)
        return cls(
            actor=text("actor"), action=text("action", 80),
            outcome=outcome if outcome in AuditEvent.Outcome.values else "",
            object=text("object", 300), since=day("since"), until=day("until"),
            before=int(before) if before.isdigit() and len(before) < 19 else None,
        )  # fmt: skip

    def query(self) -> dict[str, str]:
        values = {
            "actor": self.actor, "action": self.action, "outcome": self.outcome, "object": self.object,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }  # fmt: skip
        return {k: v for k, v in values.items() if v}


def audit_list_for(*, user: Any, filters: AuditFilters) -> QuerySet[AuditEvent]:
    domains = audit_domains_for(user)
    rows = AuditEvent.objects.select_related("actor")
    if domains is not None:
        rows = rows.filter(domain_id__in=domains)
    if filters.actor:
        rows = rows.filter(actor__username=filters.actor)
    if filters.action:
        rows = rows.filter(Q(action=filters.action) | Q(action__startswith=f"{filters.action}."))
    if filters.outcome:
        rows = rows.filter(outcome=filters.outcome)
    if filters.object:
        rows = rows.filter(Q(object_repr__icontains=filters.object) | Q(object_type=filters.object))
    if filters.since:
        rows = rows.filter(occurred_at__gte=dt.datetime.combine(filters.since, dt.time.min, tzinfo=dt.UTC))
    if filters.until:
        rows = rows.filter(
            occurred_at__lt=dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        )
    return rows.order_by("-id")


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditEvent]
    next_before: int | None
    filters: AuditFilters
    domains: list[Domain] | None


def audit_page_for(*, user: Any, filters: AuditFilters) -> AuditPage:
    """Newest first, ``PAGE_SIZE`` at a time, paged by id (no count over a large table)."""
    rows = audit_list_for(user=user, filters=filters)
    if filters.before is not None:
        rows = rows.filter(id__lt=filters.before)
    page = list(rows[: PAGE_SIZE + 1])
    next_before = page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None
    domains = audit_domains_for(user)
    return AuditPage(
        rows=page[:PAGE_SIZE], next_before=next_before, filters=filters,
        domains=None if domains is None else list(Domain.objects.filter(pk__in=domains).order_by("name")),
    )  # fmt: skip


AUDIT_CSV_HEADER = [
    "id", "occurred_at", "actor", "action", "outcome", "object_type", "object_id", "object", "request_id", "details",
]  # fmt: skip


def audit_csv_lines(rows: Iterable[AuditEvent]) -> Iterator[str]:
    """CSV text, a line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(AUDIT_CSV_HEADER)
    yield flush()
    for row in rows:
        writer.writerow([
            csv_cell(v) for v in (
                row.pk, row.occurred_at.isoformat(), row.actor.username if row.actor else "", row.action, row.outcome,
                row.object_type, row.object_id, row.object_repr, row.request_id, _details_text(row.details),
            )
        ])  # fmt: skip
        yield flush()


def _details_text(details: Any) -> str:
    import json

    return json.dumps(details, sort_keys=True, default=str)[:2000]


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()
