from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.privacy.accountant import budget_commit, budget_release, budget_reserve, cost_preview, user_balance
from apps.privacy.composition import PrivacyCost, zcdp_to_epsilon
from apps.privacy.errors import AccessDenied, BudgetExhausted, PolicyExpired
from apps.privacy.models import BudgetAccount, LedgerEntry, Mechanism
from apps.privacy.services import policy_save
from apps.usage.models import AuditEvent

pytestmark = pytest.mark.django_db

LAPLACE = Mechanism.LAPLACE


def eps(value: str) -> PrivacyCost:
    return PrivacyCost(epsilon=Decimal(value))


def reserve(user, dataset, cost):
    return budget_reserve(actor=user, dataset=dataset, cost=cost, mechanism=LAPLACE, reference="test")


def assert_accounts_match_ledger(dataset):
    for account in BudgetAccount.objects.filter(dataset=dataset):
        entries = LedgerEntry.objects.filter(dataset=dataset)
        if account.user_id:
            entries = entries.filter(user=account.user)
        total = {kind: sum((e.epsilon for e in entries if e.kind == kind), Decimal(0)) for kind in LedgerEntry.Kind}
        assert account.spent_epsilon == total["commit"]
        assert account.reserved_epsilon == total["reserve"] - total["commit"] - total["release"]


def test_ten_reservations_of_a_tenth_fill_a_budget_of_one_exactly(bob_policy, bob, funded_adult):
    for _ in range(10):
        reserve(bob, funded_adult, eps("0.1"))
    with pytest.raises(BudgetExhausted, match="your budget on hr.census.adult has 0 left"):
        reserve(bob, funded_adult, eps("0.1"))
    assert LedgerEntry.objects.filter(kind="reserve").count() == 10
    assert user_balance(user=bob, dataset=funded_adult).epsilon_remaining == 0
    assert_accounts_match_ledger(funded_adult)


def test_thirds_are_rounded_up_so_three_of_them_never_exceed_one(bob_policy, bob, funded_adult):
    from apps.privacy.composition import round_up

    third = round_up(Decimal(1) / Decimal(3))
    reserve(bob, funded_adult, PrivacyCost(epsilon=third))
    reserve(bob, funded_adult, PrivacyCost(epsilon=third))
    with pytest.raises(BudgetExhausted):
        reserve(bob, funded_adult, PrivacyCost(epsilon=third))
    account = BudgetAccount.objects.get(user=bob, dataset=funded_adult)
    assert account.epsilon_total <= account.epsilon_limit == Decimal(1)


def test_delta_is_limited_on_its_own(bob_policy, bob, funded_adult):
    reserve(bob, funded_adult, PrivacyCost(epsilon=Decimal("0.01"), delta=Decimal("0.000001")))
    with pytest.raises(BudgetExhausted, match="delta"):
        reserve(bob, funded_adult, PrivacyCost(epsilon=Decimal("0.01"), delta=Decimal("0.000000001")))


def test_two_users_cannot_together_exceed_the_dataset_wide_budget(funded_adult, alice, bob, dave):
    for user in (bob, dave):
        policy_save(actor=alice, scope=funded_adult, user=user, epsilon_budget="8")
    reserve(bob, funded_adult, eps("6"))
    with pytest.raises(BudgetExhausted, match="the dataset-wide budget on hr.census.adult has 4 left"):
        reserve(dave, funded_adult, eps("5"))
    reserve(dave, funded_adult, eps("4"))
    total = BudgetAccount.objects.get(user=None, dataset=funded_adult)
    assert total.epsilon_total == Decimal(10)


def test_a_released_reservation_gives_its_budget_back_and_a_committed_one_does_not(bob_policy, bob, funded_adult):
    cancelled = reserve(bob, funded_adult, eps("0.6"))
    budget_release(reservation=cancelled)
    failed_after_touching_data = reserve(bob, funded_adult, eps("0.6"))
    budget_commit(reservation=failed_after_touching_data)
    balance = user_balance(user=bob, dataset=funded_adult)
    assert balance.spent.epsilon == Decimal("0.6")
    assert balance.reserved.epsilon == 0
    assert balance.epsilon_remaining == Decimal("0.4")
    assert_accounts_match_ledger(funded_adult)


def test_a_reservation_ends_once_however_often_it_is_ended(bob_policy, bob, funded_adult):
    reservation = reserve(bob, funded_adult, eps("0.5"))
    first = budget_commit(reservation=reservation)
    assert budget_commit(reservation=reservation) == first
    assert budget_release(reservation=reservation) == first
    assert LedgerEntry.objects.filter(reservation=reservation).count() == 1
    assert user_balance(user=bob, dataset=funded_adult).spent.epsilon == Decimal("0.5")


def test_the_database_refuses_a_second_ending_even_if_code_tries(bob_policy, bob, funded_adult):
    reservation = reserve(bob, funded_adult, eps("0.5"))
    budget_commit(reservation=reservation)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(kind="release", reservation=reservation, dataset=funded_adult, user=bob,
                                   mechanism=LAPLACE, epsilon=Decimal("0.5"))


def test_the_database_refuses_an_account_over_its_limit_even_if_code_tries(bob_policy, bob, funded_adult):
    reserve(bob, funded_adult, eps("0.5"))
    with pytest.raises(IntegrityError), transaction.atomic():
        BudgetAccount.objects.filter(user=bob).update(epsilon_total=Decimal("1.5"))


def test_a_hundred_gaussian_releases_compose_far_below_a_hundred_times_one(funded_adult, alice, bob):
    policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_budget="9", delta_budget="0.000001")
    rho = Decimal("0.0005")
    for _ in range(100):
        budget_reserve(actor=bob, dataset=funded_adult, cost=PrivacyCost(rho=rho), mechanism=Mechanism.GAUSSIAN)

    account = BudgetAccount.objects.get(user=bob, dataset=funded_adult)
    one = zcdp_to_epsilon(rho, Decimal("0.000001"))
    assert account.spent_rho + account.reserved_rho == Decimal("0.05")
    assert account.epsilon_total == zcdp_to_epsilon(Decimal("0.05"), Decimal("0.000001"))
    assert account.epsilon_total < 100 * one / 5
    # OpenDP's conversion (Canonne, Kamath & Steinke 2020) for rho = 0.05 at delta = 1e-6:
    assert Decimal("1.45") < account.epsilon_total < Decimal("1.55")


def test_it_refuses_an_analyst_without_a_policy_and_charges_nothing(funded_adult, bob):
    with pytest.raises(AccessDenied, match="no access to hr.census.adult"):
        reserve(bob, funded_adult, eps("0.1"))
    assert not LedgerEntry.objects.exists()


def test_it_refuses_under_an_expired_policy(funded_adult, alice, bob):
    policy_save(actor=alice, scope=funded_adult, user=bob, expires_at=timezone.now() - timezone.timedelta(days=1))
    with pytest.raises(PolicyExpired, match="expired on"):
        reserve(bob, funded_adult, eps("0.1"))
    assert not LedgerEntry.objects.exists()


def test_synthetic_only_access_refuses_dp_queries(funded_adult, alice, bob):
    policy_save(actor=alice, scope=funded_adult, user=bob, access_mode="synthetic")
    with pytest.raises(AccessDenied, match="does not allow Laplace"):
        reserve(bob, funded_adult, eps("0.1"))
    budget_reserve(actor=bob, dataset=funded_adult, cost=eps("0.1"), mechanism=Mechanism.SYNTHESIZER)


def test_the_per_release_cap_holds(funded_adult, alice, bob):
    policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_per_release_cap="0.5")
    with pytest.raises(ApplicationError, match="at most epsilon 0.5"):
        reserve(bob, funded_adult, eps("0.6"))


def test_a_cost_preview_charges_nothing_and_says_whether_it_would_pass(bob_policy, bob, funded_adult):
    preview = cost_preview(user=bob, dataset=funded_adult, cost=eps("0.4"), mechanism=LAPLACE)
    assert preview.allowed
    assert preview.user_balance.epsilon_remaining == Decimal(1)
    too_much = cost_preview(user=bob, dataset=funded_adult, cost=eps("2"), mechanism=LAPLACE)
    assert not too_much.allowed
    assert "has 1 left" in too_much.reason
    assert not LedgerEntry.objects.exists()


def test_every_reservation_and_ending_is_audited(bob_policy, bob, funded_adult):
    budget_commit(reservation=reserve(bob, funded_adult, eps("0.1")))
    budget_release(reservation=reserve(bob, funded_adult, eps("0.1")))
    actions = list(AuditEvent.objects.filter(action__startswith="budget.").values_list("action", flat=True))
    assert sorted(actions) == ["budget.commit", "budget.release", "budget.reserve", "budget.reserve"]
