"""Demo usage: a few hundred usage events over the past weeks, so that the KPI dashboards of the
demo mesh are not empty on first start. Marked ``{"demo": true}`` in their details; loaded once.

The events respect visibility (a user only "uses" datasets they may see). Their times are spread
deterministically (no random numbers: a small linear congruential sequence), and the rollup runs
at the end so the dashboards read them at once.
"""

import datetime as dt
from collections.abc import Iterator

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.selectors import dataset_list_for
from apps.domains.models import Domain
from apps.usage.models import AuditEvent
from apps.usage.rollup import usage_rollup

DEMO_WEEKS = 6
# (username, events, domain they work in): bob analyses for marketing, charlie sells.
PEOPLE = (("alice", 70, "hr"), ("bob", 160, "marketing"), ("charlie", 90, "sales"), ("admin", 40, None))
ACTIONS = (("dataset.view", 60), ("dataset.api_read", 15), ("query.submit", 15), ("query.download", 10))


def _sequence(seed: int) -> Iterator[int]:
    state = seed
    while True:
        state = (state * 1103515245 + 12345) % 2**31
        yield state


def demo_usage_load(*, now: dt.datetime | None = None) -> int:
    """Create the demo usage events (once); returns how many were created."""
    if AuditEvent.objects.filter(details__demo=True).exists():
        return 0
    now = now or timezone.now()
    users = {u.username: u for u in User.objects.filter(username__in=[p[0] for p in PEOPLE])}
    events: list[AuditEvent] = []
    numbers = _sequence(20261122)
    weights = [a for a, w in ACTIONS for _ in range(w)]
    for username, count, works_in in PEOPLE:
        user = users.get(username)
        if user is None:
            continue
        if works_in:
            domain = Domain.objects.filter(slug=works_in).first()
            if domain is not None and not domain.members.exists():
                domain.members.add(user)
        datasets = list(dataset_list_for(user=user).order_by("address"))
        if not datasets:
            continue
        for _ in range(count):
            dataset = datasets[next(numbers) % len(datasets)]
            action = weights[next(numbers) % len(weights)]
            if action.startswith("query.") and not dataset.is_confidential and next(numbers) % 3:
                action = "dataset.view"
            # Later weeks are busier: the age is skewed towards the recent past.
            age_minutes = (next(numbers) % (DEMO_WEEKS * 7 * 24 * 60)) * (next(numbers) % 100 + 1) // 100
            events.append(AuditEvent(
                occurred_at=now - dt.timedelta(minutes=age_minutes + 5), actor=user, action=action,
                object_type="catalog.dataset", object_id=str(dataset.pk), object_repr=dataset.address,
                request_id=f"demo-{len(events)}", details={"demo": True},
                domain_id=dataset.domain_id, dataset_id=dataset.pk,
            ))  # fmt: skip
    with transaction.atomic():
        AuditEvent.objects.bulk_create(events, batch_size=500)
    usage_rollup()
    return len(events)
