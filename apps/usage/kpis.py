"""KPI selectors: the usage of a domain, a data product or a dataset over a period, read from the
daily rollup (``UsageDay``, ``UsageLastSeen``), never from the raw audit trail.

Who sees them: admins, the domain's owners (for the domain, its products and datasets) and a
product's owners (for the product and its datasets) — the people who can edit them
(``permissions.can_edit``). Analysts and everyone else get a 404: usage is about colleagues'
behaviour and is not shared beyond the people responsible for the data.

Definitions (over the chosen period, UTC days, today included):
- views: page and API reads of a dataset; queries: DP queries submitted (answers from the memo
  included); synthetic jobs; downloads; epsilon spent: the ledger's commits;
- unique users: people with at least one of those;
- consumers are those users; *active* ones used the data in the last ``ACTIVE_DAYS`` days,
  *inactive* ones only earlier in the period;
- consuming domains: the domains the users are members or owners of (``Domain.members``,
  ``Domain.owners``), other than the data's own domain, with how many users and events.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import Http404
from django.urls import reverse

from apps.catalog.models import DataProduct, Dataset
from apps.catalog.selectors import dataset_list_for, domain_get_for, product_get_for
from apps.domains.models import Domain
from apps.domains.permissions import can_edit
from apps.usage.freshness import Freshness, freshness_of
from apps.usage.models import Scope as ScopeKind
from apps.usage.models import UsageDay, UsageLastSeen
from apps.usage.rollup import catch_up, today

PERIODS = (7, 30, 90, 365)
DEFAULT_PERIOD = 90
ACTIVE_DAYS = 14
TOP = 10
METRICS = ("views", "queries", "synth_jobs", "downloads")


@dataclass(frozen=True)
class Scope:
    kind: str  # "domain", "product" or "dataset"
    title: str
    domain: Domain
    product: DataProduct | None = None
    dataset: Dataset | None = None

    @property
    def key(self) -> dict[str, Any]:
        """Filters of this scope's ``UsageDay`` and ``UsageLastSeen`` rows."""
        if self.dataset is not None:
            return {"scope": ScopeKind.DATASET, "scope_id": self.dataset.pk}
        if self.product is not None:
            return {"scope": ScopeKind.PRODUCT, "scope_id": self.product.pk}
        return {"scope": ScopeKind.DOMAIN, "scope_id": self.domain.pk}

    @property
    def datasets(self) -> QuerySet[Dataset]:
        if self.dataset is not None:
            return Dataset.objects.filter(pk=self.dataset.pk)
        if self.product is not None:
            return Dataset.objects.filter(product_id=self.product.pk, removed_at__isnull=True)
        return Dataset.objects.filter(domain_id=self.domain.pk, removed_at__isnull=True)

    @property
    def slug(self) -> str:
        if self.dataset is not None:
            return self.dataset.address
        if self.product is not None:
            return f"{self.domain.slug}.{self.product.slug}"
        return self.domain.slug

    @property
    def url(self) -> str:
        if self.dataset is not None:
            return reverse("usage:dataset", args=[self.dataset.address])
        if self.product is not None:
            return reverse("usage:product", args=[self.domain.slug, self.product.slug])
        return reverse("usage:domain", args=[self.domain.slug])


def _ensure_can_see_usage(user: Any, obj: Any) -> None:
    if not can_edit(user, obj):
        raise Http404("Not found.")


def domain_scope_for(*, user: Any, slug: str) -> Scope:
    domain = domain_get_for(user=user, slug=slug)
    _ensure_can_see_usage(user, domain)
    return Scope(kind="domain", title=domain.name, domain=domain)


def product_scope_for(*, user: Any, domain_slug: str, slug: str) -> Scope:
    product = product_get_for(user=user, domain_slug=domain_slug, slug=slug)
    _ensure_can_see_usage(user, product)
    return Scope(kind="product", title=product.name, domain=product.domain, product=product)


def dataset_scope_for(*, user: Any, address: str) -> Scope:
    try:  # the catalog's selector, without the columns and tags a dataset page prefetches
        dataset = dataset_list_for(user=user, include_removed=True).get(address=address)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
    _ensure_can_see_usage(user, dataset)
    return Scope(kind="dataset", title=dataset.name, domain=dataset.domain, product=dataset.product, dataset=dataset)


def scopes_for(*, user: Any) -> list[Scope]:
    """The domains and products whose KPIs the user may see (the usage index page)."""
    from apps.catalog.selectors import domain_list_for, product_list_for

    scopes = [Scope(kind="domain", title=d.name, domain=d) for d in domain_list_for(user=user) if can_edit(user, d)]
    shown = {s.domain.pk for s in scopes}
    for product in product_list_for(user=user).exclude(domain_id__in=shown).order_by("domain__name", "name"):
        if can_edit(user, product):
            scopes.append(Scope(kind="product", title=product.name, domain=product.domain, product=product))
    return scopes


def period_days(raw: Any) -> int:
    try:
        days = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


@dataclass
class Kpis:
    scope: Scope
    days: int
    start: dt.date
    end: dt.date
    totals: dict[str, Any]
    consumers: dict[str, int]
    trend: list[dict[str, Any]]
    bucket: str
    domains: list[dict[str, Any]]
    top_datasets: list[dict[str, Any]] = field(default_factory=list)
    stale: list[tuple[Dataset, Freshness]] = field(default_factory=list)
    freshness: Freshness | None = None

    @property
    def chart(self) -> dict[str, Any]:
        """What static/js/usage.js draws (through json_script): plain numbers and labels."""
        return {
            "bucket": self.bucket,
            "trend": [
                {"day": row["day"].isoformat(), **{m: row[m] for m in (*METRICS, "users")}} for row in self.trend
            ],
            "domains": [{"label": d["name"], "users": d["users"], "events": d["events"]} for d in self.domains],
            "top": [{"label": t["dataset"].name, "events": t["events"]} for t in self.top_datasets],
        }


def _sum_fields() -> dict[str, Any]:
    """Sums named ``s_<metric>`` (an annotation may not take a field's name)."""
    return {f"s_{m}": Sum(m) for m in METRICS}


def _sums(row: dict[str, Any]) -> dict[str, int]:
    return {m: int(row.get(f"s_{m}") or 0) for m in METRICS}


def _daily(scope: Scope, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Every day of the period (zeros where nothing happened), with its epsilon spent."""
    found = {
        r["day"]: r
        for r in UsageDay.objects.filter(**scope.key, consumer_domain_id=0, day__gte=start, day__lte=end).values(
            "day", *METRICS, "users", "epsilon_spent"
        )
    }
    series = []
    day = start
    while day <= end:
        row = found.get(day)
        series.append({
            "day": day, **{m: row[m] if row else 0 for m in (*METRICS, "users")},
            "epsilon": row["epsilon_spent"] if row else Decimal(0),
        })  # fmt: skip
        day += dt.timedelta(days=1)
    return series


def _domains(scope: Scope, start: dt.date, people: QuerySet[UsageLastSeen]) -> list[dict[str, Any]]:
    """Events by the people of each other domain (membership when the day was rolled up) and how many
    of its current members and owners used the data in the period."""
    events = {
        r["consumer_domain_id"]: sum(_sums(r).values())
        for r in UsageDay.objects.filter(**scope.key, day__gte=start)
        .exclude(consumer_domain_id__in=[0, scope.domain.pk])
        .order_by()
        .values("consumer_domain_id")
        .annotate(**_sum_fields())
    }
    # someone both member and owner of a domain counts once
    distinct: dict[int, set[int]] = defaultdict(set)
    for through in (Domain.members.through, Domain.owners.through):
        for user_id, domain_id in through.objects.filter(user_id__in=people.values("actor_id")).values_list(
            "user_id", "domain_id"
        ):
            distinct[domain_id].add(user_id)
    named = {pk: (slug, name) for pk, slug, name in Domain.objects.filter(pk__in=list(events)).values_list(
        "pk", "slug", "name")}
    found = [
        {"name": named[pk][1], "slug": named[pk][0], "users": len(distinct.get(pk, ())), "events": total}
        for pk, total in events.items()
        if pk in named and total
    ]
    found.sort(key=lambda d: (-d["events"], d["name"]))
    return found


def _top_datasets(scope: Scope, start: dt.date) -> list[dict[str, Any]]:
    rows = UsageDay.objects.filter(
        scope=ScopeKind.DATASET, domain_id=scope.domain.pk, consumer_domain_id=0, day__gte=start
    )
    if scope.product is not None:
        rows = rows.filter(scope_id__in=Dataset.objects.filter(product_id=scope.product.pk).values("pk"))
    ranked = list(
        rows.order_by()
        .values("scope_id")
        .annotate(**_sum_fields())
        .annotate(events=F("s_views") + F("s_queries") + F("s_synth_jobs") + F("s_downloads"))
        .order_by("-events", "scope_id")[:TOP]
    )
    ids = [r["scope_id"] for r in ranked]
    datasets = Dataset.objects.only("address", "name").in_bulk(ids)
    users = dict(
        UsageLastSeen.objects.filter(scope=ScopeKind.DATASET, scope_id__in=ids, last_day__gte=start)
        .order_by()
        .values("scope_id")
        .annotate(n=Count("actor_id"))
        .values_list("scope_id", "n")
    )
    return [
        {"dataset": datasets[r["scope_id"]], **_sums(r), "users": users.get(r["scope_id"], 0),
         "events": int(r["events"] or 0)}
        for r in ranked
        if r["scope_id"] in datasets
    ]


def kpis_for(scope: Scope, *, days: int) -> Kpis:
    end = today()
    start = end - dt.timedelta(days=days - 1)
    catch_up(since=start)
    daily = _daily(scope, start, end)
    totals: dict[str, Any] = {m: sum(row[m] for row in daily) for m in METRICS}
    seen = UsageLastSeen.objects.filter(**scope.key, last_day__gte=start)
    recent = Q(last_day__gte=end - dt.timedelta(days=ACTIVE_DAYS - 1))
    counted = seen.aggregate(total=Count("actor_id"), active=Count("actor_id", filter=recent))
    total, active = counted["total"], counted["active"]
    totals["users"] = total
    totals["epsilon"] = sum((row["epsilon"] for row in daily), Decimal(0))
    consumers = {"total": total, "active": active, "inactive": total - active}
    kpis = Kpis(
        scope=scope, days=days, start=start, end=end, totals=totals, consumers=consumers,
        trend=daily, bucket="day", domains=_domains(scope, start, seen),
    )  # fmt: skip
    if scope.dataset is None:
        kpis.top_datasets = _top_datasets(scope, start)
        datasets = (
            scope.datasets.filter(product__freshness_expectation__isnull=False)
            .select_related("product")
            .only("address", "name", "data_updated_at", "product_id", "product__freshness_expectation")
        )
        kpis.stale = [(d, f) for d in datasets.order_by("address") if (f := freshness_of(d)).is_stale]
    else:
        kpis.freshness = freshness_of(scope.dataset)
    return kpis


def kpis_csv_rows(kpis: Kpis) -> list[list[Any]]:
    """The daily series of the period."""
    header = ["scope", "day", "views", "unique_users", "queries", "synthetic_jobs", "downloads", "epsilon_spent"]
    return [header] + [
        [kpis.scope.slug, row["day"].isoformat(), row["views"], row["users"], row["queries"], row["synth_jobs"],
         row["downloads"], row["epsilon"]]
        for row in kpis.trend
    ]
