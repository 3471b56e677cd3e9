"""Case 9 of shared/testing.md: neighbouring datasets (one person more, an extreme value, a rare
category, an empty group, a zero that would divide) give the same status, error code and charge,
and no data value reaches an error, a log line or an audit row."""

import logging
from decimal import Decimal

import pytest

from apps.privacy.models import LedgerEntry
from apps.privacy.services import policy_save
from apps.queries.models import QueryJob
from apps.queries.services import query_run, query_submit
from apps.usage.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXTREME = 987_654_321


def person(person_id: int, **values):
    return {"person_id": person_id, "age": 40, "sex": "Male", "hours_per_week": 40, "capital_gain": 0,
            "native_country": "United-States", "education_num": 10, **values}


BASE = [person(i, age=20 + i % 50, hours_per_week=30 + i % 20) for i in range(1, 61)]
NEIGHBOURS = {
    "one person more": (
        "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex",
        [*BASE, person(61, sex="Female", age=90)], {},
    ),
    "an extreme value": (
        "SELECT COUNT(*), SUM(capital_gain), AVG(capital_gain) FROM adult",
        [*BASE, person(61, capital_gain=EXTREME)], {},
    ),
    "a rare category": (
        "SELECT native_country, COUNT(*) FROM adult GROUP BY native_country",
        [*BASE, person(61, native_country="Holand-Netherlands")], {},
    ),
    "a rare undeclared key": (
        "SELECT education_num, COUNT(*) FROM adult GROUP BY education_num",
        [*BASE, person(61, education_num=1)], {"delta": "0.0000001"},
    ),
    "an empty group": (
        "SELECT sex, AVG(age), SUM(age) FROM adult GROUP BY sex",
        [*BASE, person(61, sex="Female")], {},
    ),
    "a zero that would divide": (
        "SELECT COUNT(*) FROM adult WHERE age / (hours_per_week - 40) > 1",
        [*BASE, person(61, hours_per_week=40, age=EXTREME % 90)], {},
    ),
}


def _ask(user, dataset, sql, extra):
    job = query_submit(actor=user, dataset=dataset, sql=sql, mechanism="laplace", epsilon="0.3",
                       rho=None, delta=extra.get("delta"), request_id="")
    query_run(job_id=job.pk)
    job.refresh_from_db()
    charges = LedgerEntry.objects.filter(reservation=job.reservation).values_list("kind", "epsilon", "delta")
    keys = [row[0] for row in job.result["rows"]] if job.result and job.result["columns"][0] in (
        "sex", "native_country") else None
    return job.status, job.error, list(charges), keys


@pytest.mark.parametrize("variant", list(NEIGHBOURS))
def test_neighbouring_datasets_give_the_same_status_error_and_charge(variant, funded_adult, alice, bob, adult_copy,
                                                                      caplog):
    sql, neighbour_rows, extra = NEIGHBOURS[variant]
    dave = UserFactory(username="dave")
    dave.groups.add(*bob.groups.all())
    for user in (bob, dave):
        policy_save(actor=alice, scope=funded_adult, user=user, epsilon_budget="1", delta_budget="0.000001")
    caplog.set_level(logging.DEBUG)

    adult_copy("postgresql", BASE)
    without = _ask(bob, funded_adult, sql, extra)
    adult_copy("postgresql", neighbour_rows)
    with_one_more = _ask(dave, funded_adult, sql, extra)

    assert without == with_one_more
    assert without[0] == QueryJob.Status.SUCCEEDED
    assert without[2] == [("commit", Decimal("0.3"), Decimal(extra.get("delta", "0")))]
    audit_text = " ".join(str(details) for details in AuditEvent.objects.values_list("details", flat=True))
    for secret in (str(EXTREME), "Holand-Netherlands"):
        assert secret not in caplog.text
        assert secret not in audit_text
    assert str(EXTREME) not in str(QueryJob.objects.values_list("error", flat=True))
