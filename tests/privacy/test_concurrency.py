"""Case 1 and 6 of shared/testing.md, through real HTTP to a live server on PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from apps.core.errors import ApplicationError
from apps.privacy.models import BudgetAccount, LedgerEntry, Policy
from apps.privacy.services import policy_save

pytestmark = pytest.mark.django_db(transaction=True)


def _reserve(live_server, token: str, epsilon: str) -> int:
    response = requests.post(
        f"{live_server.url}/api/v1/reservations/",
        json={"dataset": "hr.census.adult", "mechanism": "laplace", "epsilon": epsilon},
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )
    return response.status_code


def test_forty_concurrent_reservations_of_a_tenth_grant_exactly_ten(live_server, bob_policy, bob, funded_adult):
    token = Token.objects.create(user=bob).key
    start = threading.Barrier(40)

    def submit(_: int) -> int:
        start.wait()
        return _reserve(live_server, token, "0.1")

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(submit, range(40)))

    assert statuses.count(201) == 10, statuses
    assert statuses.count(403) == 30
    account = BudgetAccount.objects.get(user=bob, dataset=funded_adult)
    ledger = LedgerEntry.objects.filter(user=bob, kind="reserve")
    assert ledger.count() == 10
    assert account.reserved_epsilon == sum(entry.epsilon for entry in ledger) == Decimal(1)
    assert account.epsilon_total == Decimal(1)


def test_lowering_a_budget_while_reservations_run_never_lets_a_grant_exceed_it(
    live_server, bob_policy, bob, alice, funded_adult
):
    token = Token.objects.create(user=bob).key
    start = threading.Barrier(21)
    outcomes: list[str] = []

    def lower() -> None:
        start.wait()
        try:
            for value in ("0.8", "0.6", "0.5"):
                try:
                    policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_budget=value,
                                delta_budget="0.000001")
                    outcomes.append(value)
                except ApplicationError as refusal:  # refused: more was already used
                    outcomes.append(f"refused {value}: {refusal}")
        finally:
            connection.close()

    def submit(_: int) -> int:
        start.wait()
        return _reserve(live_server, token, "0.05")

    lowering = threading.Thread(target=lower)
    lowering.start()
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(submit, range(20)))
    lowering.join()

    final_limit = Policy.objects.get(user=bob).epsilon_budget
    granted = LedgerEntry.objects.filter(user=bob, kind="reserve").count()
    assert granted == statuses.count(201)
    assert Decimal("0.05") * granted <= final_limit, (outcomes, statuses)
    account = BudgetAccount.objects.get(user=bob, dataset=funded_adult)
    assert account.epsilon_limit == final_limit
    assert account.epsilon_total <= final_limit
