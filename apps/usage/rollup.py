"""The daily usage rollup: ``UsageDay`` and ``UsageLastSeen`` rows from the audit trail and the ledger.

A day (UTC) is always recomputed whole in one transaction (its rows deleted and written again),
under a lock on its ``UsageRolledDay`` row, so a beat run and a page read racing each other, or a
task delivered twice, never count anything twice. A day is ``complete`` once it ended more than
``GRACE`` ago (a transaction still open at midnight has committed by then); the beat task rolls up
every past day that is not complete yet, and a KPI page rolls up today again when its rows are
older than ``today_refresh_seconds()`` (the on-read catch-up).

What counts (the action names the services write):
- views: a dataset's page (``dataset.view``) or its API (``dataset.api_read``), successful;
- queries: ``query.submit`` and ``query.memo_hit`` (an identical query answered from the memo);
- synthetic jobs: ``synth.*`` actions ending in ``submit``;
- downloads: any action ending in ``download``;
- epsilon spent: the ledger's commit entries of that day.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.usage.models import AuditEvent, DatasetPopularity, Scope, UsageDay, UsageLastSeen, UsageRolledDay

POPULARITY_DAYS = 90
GRACE = dt.timedelta(minutes=10)
VIEW_ACTIONS = ("dataset.view", "dataset.api_read")
QUERY_ACTIONS = ("query.submit", "query.memo_hit")
VIEWS = Q(action__in=VIEW_ACTIONS)
QUERIES = Q(action__in=QUERY_ACTIONS)
SYNTH_JOBS = Q(action__startswith="synth.", action__endswith="submit")
DOWNLOADS = Q(action__endswith="download")
COUNTED = VIEWS | QUERIES | SYNTH_JOBS | DOWNLOADS


def today_refresh_seconds() -> float:
    return float(getattr(settings, "PORTAL_USAGE_TODAY_REFRESH_SECONDS", 60))


def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def _per_dataset_actor(first: dt.date, last: dt.date) -> dict[tuple[dt.date, int, int], dict[str, Any]]:
    """Counts per (day, dataset, user) of the days ``first`` to ``last``, in one pass over their
    events and ledger commits."""
    from apps.privacy.models import LedgerEntry

    start, end = _bounds(first)[0], _bounds(last)[1]
    rows: dict[tuple[dt.date, int, int], dict[str, Any]] = defaultdict(dict)
    events = (
        AuditEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end, outcome=AuditEvent.Outcome.SUCCESS)
        .filter(COUNTED, dataset_id__isnull=False, actor_id__isnull=False)
        .order_by()
        .annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
        .values("day", "dataset_id", "actor_id")
        .annotate(
            views=Count("id", filter=VIEWS),
            queries=Count("id", filter=QUERIES),
            synth_jobs=Count("id", filter=SYNTH_JOBS),
            downloads=Count("id", filter=DOWNLOADS),
        )
    )
    for row in events:
        rows[(row.pop("day"), row.pop("dataset_id"), row.pop("actor_id"))].update(row)
    spent = (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.COMMIT, created_at__gte=start, created_at__lt=end)
        .order_by()
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day", "dataset_id", "user_id")
        .annotate(epsilon=Sum("epsilon"))
    )
    for row in spent:
        rows[(row["day"], row["dataset_id"], row["user_id"])]["epsilon_spent"] = row["epsilon"] or Decimal(0)
    return rows


def _consumer_domains(actor_ids: set[int]) -> dict[int, set[int]]:
    from apps.domains.models import Domain

    domains: dict[int, set[int]] = defaultdict(set)
    for through in (Domain.members.through, Domain.owners.through):
        for user_id, domain_id in through.objects.filter(user_id__in=actor_ids).values_list("user_id", "domain_id"):
            domains[user_id].add(domain_id)
    return domains


_METRICS = ("views", "queries", "synth_jobs", "downloads", "epsilon_spent")


def _rows(first: dt.date, last: dt.date) -> tuple[list[UsageDay], set[tuple[str, int, int, dt.date]]]:
    """The ``UsageDay`` rows of the days ``first`` to ``last``, and who was seen where on which day."""
    from apps.catalog.models import Dataset

    base = _per_dataset_actor(first, last)
    scopes = {
        pk: (domain_id, product_id)
        for pk, domain_id, product_id in Dataset.objects.filter(pk__in={k[1] for k in base}).values_list(
            "pk", "domain_id", "product_id"
        )
    }
    consumers = _consumer_domains({k[2] for k in base})
    sums: dict[tuple[dt.date, str, int, int], dict[str, Any]] = {}
    users: dict[tuple[dt.date, str, int, int], set[int]] = defaultdict(set)
    owners: dict[tuple[str, int], int] = {}
    seen: set[tuple[str, int, int, dt.date]] = set()
    for (day, dataset_id, actor_id), counts in base.items():
        if dataset_id not in scopes:
            continue
        domain_id, product_id = scopes[dataset_id]
        targets = [(Scope.DATASET, dataset_id), (Scope.DOMAIN, domain_id)]
        if product_id is not None:
            targets.append((Scope.PRODUCT, product_id))
        for scope, scope_id in targets:
            owners[(scope, scope_id)] = domain_id
            seen.add((scope, scope_id, actor_id, day))
            for consumer in (0, *consumers.get(actor_id, ())):
                key = (day, scope, scope_id, consumer)
                total = sums.setdefault(key, dict.fromkeys(_METRICS, 0))
                for metric in _METRICS:
                    total[metric] += counts.get(metric, 0)
                users[key].add(actor_id)
    rows = [
        UsageDay(
            day=day, scope=scope, scope_id=scope_id, consumer_domain_id=consumer,
            domain_id=owners[(scope, scope_id)], users=len(users[(day, scope, scope_id, consumer)]), **total,
        )
        for (day, scope, scope_id, consumer), total in sums.items()
    ]
    return rows, seen


def _record_seen(seen: set[tuple[str, int, int, dt.date]]) -> None:
    """``last_day`` only ever moves forward (GREATEST in one statement, so racing roll-ups of two days
    cannot move it back)."""
    latest: dict[tuple[str, int, int], dt.date] = {}
    for scope, scope_id, actor_id, day in seen:
        key = (scope, scope_id, actor_id)
        latest[key] = max(day, latest.get(key, day))
    if not latest:
        return
    table = UsageLastSeen._meta.db_table
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    # Only the table's name and placeholders are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (scope, scope_id, actor_id, last_day) VALUES {{values}} "  # noqa: S608
        f"ON CONFLICT (scope, scope_id, actor_id) DO UPDATE SET last_day = {greatest}({table}.last_day, "
        "excluded.last_day)"
    )
    items = list(latest.items())
    with connection.cursor() as cursor:
        for i in range(0, len(items), 1000):
            chunk = items[i : i + 1000]
            params: list[Any] = []
            for (scope, scope_id, actor_id), day in chunk:
                params += [str(scope), scope_id, actor_id, day]
            cursor.execute(sql.format(values=", ".join(["(%s, %s, %s, %s)"] * len(chunk))), params)


def rollup_days(first: dt.date, last: dt.date, *, max_age_seconds: float | None = None) -> int:
    """Recompute the days ``first`` to ``last`` (complete ones are left alone). With
    ``max_age_seconds``, days rolled up more recently than that are left alone too. Returns the
    number of days recomputed."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    if not days:
        return 0
    stale_before = timezone.now() - dt.timedelta(days=1)
    with transaction.atomic():
        UsageRolledDay.objects.bulk_create(
            [UsageRolledDay(day=day, rolled_at=stale_before) for day in days], ignore_conflicts=True
        )
        states = list(UsageRolledDay.objects.select_for_update().filter(day__in=days).order_by("day"))
        now = timezone.now()
        todo = [
            s for s in states
            if not s.complete and (max_age_seconds is None or (now - s.rolled_at).total_seconds() >= max_age_seconds)
        ]  # fmt: skip
        if not todo:
            return 0
        todo_days = {s.day for s in todo}
        rows, seen = _rows(min(todo_days), max(todo_days))
        rows = [r for r in rows if r.day in todo_days]
        UsageDay.objects.filter(day__in=todo_days).delete()
        UsageDay.objects.bulk_create(rows, batch_size=2000)
        _record_seen({s for s in seen if s[3] in todo_days})
        counts: dict[dt.date, int] = defaultdict(int)
        for r in rows:
            if r.scope == Scope.DOMAIN and r.consumer_domain_id == 0:
                counts[r.day] += r.views + r.queries + r.synth_jobs + r.downloads
        for state in todo:
            state.rolled_at = now
            state.complete = now >= _bounds(state.day)[1] + GRACE
            state.events = counts[state.day]
        UsageRolledDay.objects.bulk_update(todo, ["rolled_at", "complete", "events"])
    return len(todo)


def rollup_day(day: dt.date, *, max_age_seconds: float | None = None) -> bool:
    """Recompute one day (see ``rollup_days``); whether it was recomputed."""
    return rollup_days(day, day, max_age_seconds=max_age_seconds) == 1


def _first_day() -> dt.date | None:
    from apps.privacy.models import LedgerEntry

    # ORDER BY … LIMIT 1 on the indexed times: one index probe, not a scan of the trail.
    firsts = [
        AuditEvent.objects.order_by("occurred_at").values_list("occurred_at", flat=True).first(),
        LedgerEntry.objects.order_by("created_at").values_list("created_at", flat=True).first(),
    ]
    found = [f for f in firsts if f is not None]
    return min(found).astimezone(dt.UTC).date() if found else None


def pending_days(until: dt.date) -> list[dt.date]:
    """Days up to ``until`` that are not complete, from the first day anything happened."""
    first = _first_day()
    if first is None:
        return []
    complete = set(UsageRolledDay.objects.filter(complete=True, day__gte=first).values_list("day", flat=True))
    last_complete = UsageRolledDay.objects.filter(complete=True).aggregate(last=Max("day"))["last"]
    start = first if last_complete is None else min(first, last_complete)
    days = [start + dt.timedelta(days=n) for n in range((until - start).days + 1)]
    return [day for day in days if day not in complete]


def usage_rollup() -> dict[str, int]:
    """The beat task's work: every past day not complete yet, then today."""
    current = today()
    pending = pending_days(current - dt.timedelta(days=1))
    rolled = rollup_days(pending[0], current - dt.timedelta(days=1)) if pending else 0
    rolled += rollup_day(current)
    popularity_refresh()
    return {"days": rolled}


def popularity_refresh() -> int:
    """Events per dataset over the last ``POPULARITY_DAYS`` days, for the search's tie-breaker."""
    since = today() - dt.timedelta(days=POPULARITY_DAYS - 1)
    totals = (
        UsageDay.objects.filter(scope=Scope.DATASET, consumer_domain_id=0, day__gte=since)
        .order_by()
        .values("scope_id")
        .annotate(s_views=Sum("views"), s_queries=Sum("queries"), s_synth=Sum("synth_jobs"), s_dl=Sum("downloads"))
    )
    from apps.catalog.models import Dataset

    totals = list(totals)
    existing = set(Dataset.objects.filter(pk__in=[r["scope_id"] for r in totals]).values_list("pk", flat=True))
    rows = [
        DatasetPopularity(dataset_id=r["scope_id"], score=r["s_views"] + r["s_queries"] + r["s_synth"] + r["s_dl"])
        for r in totals
        if r["scope_id"] in existing
    ]
    with transaction.atomic():
        DatasetPopularity.objects.all().delete()
        DatasetPopularity.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def catch_up(since: dt.date) -> None:
    """On read: past days of the window that are not complete (the beat has not rolled them up),
    and today if its rows are older than ``today_refresh_seconds()``. One query when nothing is due."""
    current = today()
    states = {
        day: (complete, rolled_at)
        for day, complete, rolled_at in UsageRolledDay.objects.filter(day__gte=since, day__lte=current).values_list(
            "day", "complete", "rolled_at"
        )
    }
    past = [since + dt.timedelta(days=n) for n in range((current - since).days)]
    missing = [day for day in past if not states.get(day, (False, None))[0]]
    if missing:
        rollup_days(missing[0], current - dt.timedelta(days=1))
    rolled_at = states.get(current, (False, None))[1]
    if rolled_at is None or (timezone.now() - rolled_at).total_seconds() >= today_refresh_seconds():
        rollup_day(current, max_age_seconds=today_refresh_seconds())
