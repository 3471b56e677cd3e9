"""The demo usage: a few hundred events over past weeks, visible in the dashboards, loaded once."""

import pytest

from apps.usage.demo import demo_usage_load
from apps.usage.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_demo_loads_a_few_hundred_usage_events_over_past_weeks_once(alice, bob, charlie, admin_user, adult,
                                                                         orders, marketing):
    created = demo_usage_load()

    assert 200 <= created <= 500 and demo_usage_load() == 0
    days = {e.date() for e in AuditEvent.objects.filter(details__demo=True).values_list("occurred_at", flat=True)}
    assert len(days) >= 20
    assert not AuditEvent.objects.filter(details__demo=True, actor=charlie, domain_id=adult.domain_id).exists()
    totals = client_for(alice).get("/api/v1/usage/domains/hr/", {"days": 90}).json()["totals"]
    assert totals["views"] > 0 and totals["users"] >= 2
