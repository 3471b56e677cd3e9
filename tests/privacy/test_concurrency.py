"""Case 1 and 6 of shared/testing.md, through real HTTP to a live server on PostgreSQL."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from apps.core.errors import ApplicationError
from apps.privacy.accountant import budget_reserve
from apps.privacy.composition import PrivacyCost
from apps.privacy.errors import BudgetExhausted
from apps.privacy.models import BudgetAccount, LedgerEntry, Policy
from apps.privacy.services import dataset_budget_set, policy_save

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


def test_a_reservation_waiting_on_a_lowered_dataset_budget_is_checked_against_the_new_one(
    funded_adult, alice, bob
):
    policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_budget="8")
    budget_locked, outcome = threading.Event(), {}

    def lower_dataset_budget() -> None:
        try:
            with transaction.atomic():
                dataset_budget_set(actor=alice, dataset=funded_adult, epsilon_limit="5", delta_limit="0.00001")
                budget_locked.set()
                time.sleep(1.5)  # the reservation below reads and waits meanwhile
        finally:
            connection.close()

    def reserve_six() -> None:
        budget_locked.wait()
        try:
            budget_reserve(actor=bob, dataset=funded_adult, cost=PrivacyCost(epsilon=Decimal(6)), mechanism="laplace")
            outcome["result"] = "granted"
        except BudgetExhausted:
            outcome["result"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=lower_dataset_budget), threading.Thread(target=reserve_six)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcome["result"] == "refused"
    total = BudgetAccount.objects.get(user=None, dataset=funded_adult)
    assert total.epsilon_limit == Decimal(5)
    assert total.epsilon_total == 0
