"""The privacy accountant: the only place where privacy budget is reserved, committed or released.

Every release of information about a confidential dataset is paid for *before* any data is
touched, in one transaction that

1. locks the dataset-wide account, then the user's account (always in that order, so two
   reservations never deadlock; a policy change locks only user accounts);
2. composes what was already spent and reserved with the new cost, soundly (see below), and
   refuses if the user's budget or the dataset-wide budget would be exceeded;
3. adds the cost to both accounts' ``reserved`` amounts and appends a ``reserve`` ledger entry.

A reservation then ends exactly once (a unique constraint on the ledger): ``budget_commit`` moves
it to ``spent`` when the release happened or data was touched; ``budget_release`` gives it back,
and callers may only release when no data was touched. The database also refuses any account whose
composed totals exceed its limits, so a bug above cannot overspend.

Composition (``apps.privacy.composition`` states the theorems): charges carry the parameters their
mechanism proves. Approximate-DP charges (Laplace: (eps, 0); thresholds: (eps, delta)) add up by
basic composition (Dwork & Roth, Thm 3.16). zCDP charges (Gaussian, synthesizers built on it) add
up in rho (Bun & Steinke 2016, Lemma 2.3), and the total rho is converted to (eps, delta) once, with
OpenDP's conversion (Canonne, Kamath & Steinke 2020), at all the delta the approximate-DP charges
have left. 100 Gaussian releases of rho each so cost far less than 100 times one release's epsilon.
All amounts are Decimal, rounded up.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError
from apps.domains.permissions import ensure_can_view
from apps.privacy.composition import ZERO, PrivacyCost, composed_epsilon, release_epsilon
from apps.privacy.errors import AccessDenied, BudgetExhausted, PolicyExpired
from apps.privacy.models import AccessMode, BudgetAccount, DatasetBudget, LedgerEntry, Mechanism, Policy
from apps.privacy.policies import policy_for
from apps.usage.services import audit_record

_MODES_FOR_MECHANISM = {
    Mechanism.LAPLACE: {AccessMode.DP, AccessMode.RAW},
    Mechanism.GAUSSIAN: {AccessMode.DP, AccessMode.RAW},
    Mechanism.SYNTHESIZER: {AccessMode.SYNTHETIC, AccessMode.DP, AccessMode.RAW},
}


@dataclass(frozen=True)
class Limits:
    epsilon: Decimal
    delta: Decimal


@dataclass(frozen=True)
class Balance:
    """What is spent, reserved and left of one budget, composed as the accountant does."""

    limit: Limits
    spent: PrivacyCost
    reserved: PrivacyCost
    epsilon_used: Decimal

    @property
    def epsilon_remaining(self) -> Decimal:
        return max(self.limit.epsilon - self.epsilon_used, ZERO)

    @property
    def delta_remaining(self) -> Decimal:
        return max(self.limit.delta - self.spent.delta - self.reserved.delta, ZERO)


def _cost_of(entry: Any, prefix: str = "") -> PrivacyCost:
    return PrivacyCost(
        epsilon=getattr(entry, f"{prefix}epsilon"),
        delta=getattr(entry, f"{prefix}delta"),
        rho=getattr(entry, f"{prefix}rho"),
    )


def account_used(account: BudgetAccount) -> PrivacyCost:
    return _cost_of(account, "spent_") + _cost_of(account, "reserved_")


def _check_room(*, used: PrivacyCost, cost: PrivacyCost, limit: Limits, whose: str, dataset: Dataset) -> Decimal:
    total = used + cost
    if total.delta > limit.delta:
        raise BudgetExhausted(
            f"This release needs delta {cost.delta.normalize()} but {whose} delta budget on {dataset.address} "
            f"has {max(limit.delta - used.delta, ZERO).normalize()} left."
        )
    epsilon = composed_epsilon(total, limit.delta)
    if epsilon > limit.epsilon:
        left = max(limit.epsilon - composed_epsilon(used, limit.delta), ZERO)
        raise BudgetExhausted(
            f"This release needs epsilon {release_epsilon(cost, limit.delta).normalize()} but {whose} budget on "
            f"{dataset.address} has {left.normalize()} left."
        )
    return epsilon


def _policy_limits(policy: Policy) -> Limits:
    return Limits(epsilon=policy.epsilon_budget, delta=policy.delta_budget)


def _dataset_limits(dataset: Dataset) -> Limits:
    try:
        budget = DatasetBudget.objects.get(dataset=dataset)
    except DatasetBudget.DoesNotExist:
        raise AccessDenied(f"The owners of {dataset.address} have not set a dataset-wide privacy budget yet.") from None
    return Limits(epsilon=budget.epsilon_limit, delta=budget.delta_limit)


def _locked_account(*, dataset: Dataset, user: User | None) -> BudgetAccount:
    BudgetAccount.objects.bulk_create([BudgetAccount(dataset=dataset, user=user)], ignore_conflicts=True)
    return BudgetAccount.objects.select_for_update().get(dataset=dataset, user=user)


def account_write(account: BudgetAccount, *, limit: Limits) -> None:
    account.epsilon_limit, account.delta_limit = limit.epsilon, limit.delta
    used = account_used(account)
    account.epsilon_total = composed_epsilon(used, limit.delta)
    account.delta_total = used.delta
    account.save()


def usable_policy(*, user: User, dataset: Dataset, mechanism: str) -> Policy:
    """The user's policy on the dataset if it allows ``mechanism`` now; a clear refusal otherwise."""
    ensure_can_view(user, dataset)
    if not dataset.is_confidential:
        raise ApplicationError(f"{dataset.address} is open: it needs no privacy budget.")
    policy = policy_for(user=user, dataset=dataset)
    if policy is None or policy.access_mode == AccessMode.NONE:
        raise AccessDenied(f"You have no access to {dataset.address}; ask its owners for access.")
    if policy.expires_at is not None and policy.expires_at <= timezone.now():
        raise PolicyExpired(f"Your access to {dataset.address} expired on {policy.expires_at:%Y-%m-%d %H:%M} UTC.")
    if policy.access_mode not in _MODES_FOR_MECHANISM[Mechanism(mechanism)]:
        raise AccessDenied(
            f"Your access to {dataset.address} ({policy.get_access_mode_display()}) does not allow "
            f"{Mechanism(mechanism).label} releases."
        )
    if mechanism not in policy.allowed_mechanisms:
        raise AccessDenied(
            f"Your policy on {dataset.address} does not allow the {Mechanism(mechanism).label} mechanism."
        )
    return policy


def _check_cap(policy: Policy, cost: PrivacyCost, dataset: Dataset) -> None:
    if policy.epsilon_per_release_cap is None:
        return
    epsilon = release_epsilon(cost, policy.delta_budget)
    if epsilon > policy.epsilon_per_release_cap:
        raise ApplicationError(
            f"One release on {dataset.address} may cost at most epsilon {policy.epsilon_per_release_cap.normalize()}; "
            f"this one costs {epsilon.normalize()}.",
            field="epsilon",
        )


@transaction.atomic
def budget_reserve(
    *, actor: User, dataset: Dataset, cost: PrivacyCost, mechanism: str, reference: str = "", request_id: str = ""
) -> LedgerEntry:
    """Reserve ``cost`` on the user's and the dataset-wide budget, atomically, or refuse."""
    if cost.is_zero:
        raise ApplicationError("A release must cost something: epsilon, delta or rho above zero.")
    policy = usable_policy(user=actor, dataset=dataset, mechanism=mechanism)
    _check_cap(policy, cost, dataset)
    _dataset_limits(dataset)  # refuse early, before taking locks, when no dataset budget is set

    total_account = _locked_account(dataset=dataset, user=None)
    user_account = _locked_account(dataset=dataset, user=actor)
    # Read the limits again now that the accounts are locked: a concurrent change to the dataset
    # budget or the policy (which locks the same accounts) has committed by now.
    dataset_limit = _dataset_limits(dataset)
    policy = usable_policy(user=actor, dataset=dataset, mechanism=mechanism)
    user_limit = _policy_limits(policy)
    _check_room(
        used=account_used(total_account), cost=cost, limit=dataset_limit, whose="the dataset-wide", dataset=dataset
    )
    _check_room(used=account_used(user_account), cost=cost, limit=user_limit, whose="your", dataset=dataset)

    return _reserve_on(
        ((total_account, dataset_limit), (user_account, user_limit)),
        actor=actor, dataset=dataset, cost=cost, mechanism=mechanism, reference=reference, request_id=request_id,
    )  # fmt: skip


def _reserve_on(
    accounts: tuple[tuple[BudgetAccount, Limits], ...],
    *,
    actor: User,
    dataset: Dataset,
    cost: PrivacyCost,
    mechanism: str,
    reference: str,
    request_id: str,
    details: dict[str, Any] | None = None,
) -> LedgerEntry:
    """Add ``cost`` to the reserved totals of the locked, checked ``accounts``; one ledger entry, one audit row."""
    for account, limit in accounts:
        account.reserved_epsilon += cost.epsilon
        account.reserved_delta += cost.delta
        account.reserved_rho += cost.rho
        account_write(account, limit=limit)
    entry = LedgerEntry.objects.create(
        kind=LedgerEntry.Kind.RESERVE,
        dataset=dataset,
        user=actor,
        mechanism=mechanism,
        epsilon=cost.epsilon,
        delta=cost.delta,
        rho=cost.rho,
        reference=reference[:200],
    )
    audit_record(
        actor=actor,
        action="budget.reserve",
        obj=dataset,
        request_id=request_id,
        details={"reservation": entry.pk, "mechanism": mechanism, **(details or {}), **_cost_details(cost)},
    )
    return entry


def _cost_details(cost: PrivacyCost) -> dict[str, str]:
    return {"epsilon": str(cost.epsilon), "delta": str(cost.delta), "rho": str(cost.rho)}


DATASET_WIDE = "dataset-wide:"


@transaction.atomic
def budget_reserve_dataset_wide(
    *, actor: User, dataset: Dataset, cost: PrivacyCost, mechanism: str, reference: str = "", request_id: str = ""
) -> LedgerEntry:
    """An owner funds a release from the dataset-wide budget alone (e.g. the preview every viewer
    of the dataset sees for free): only the dataset-wide account is locked and charged; the ledger
    entry names the owner and its reference starts with ``DATASET_WIDE``, so its end touches that
    account alone too."""
    from apps.domains.permissions import ensure_can_manage_policies

    if cost.is_zero:
        raise ApplicationError("A release must cost something: epsilon, delta or rho above zero.")
    ensure_can_manage_policies(actor, dataset)
    if not dataset.is_confidential:
        raise ApplicationError(f"{dataset.address} is open: it needs no privacy budget.")
    _dataset_limits(dataset)
    total_account = _locked_account(dataset=dataset, user=None)
    dataset_limit = _dataset_limits(dataset)
    _check_room(
        used=account_used(total_account), cost=cost, limit=dataset_limit, whose="the dataset-wide", dataset=dataset
    )
    return _reserve_on(
        ((total_account, dataset_limit),),
        actor=actor, dataset=dataset, cost=cost, mechanism=mechanism, reference=DATASET_WIDE + reference,
        request_id=request_id, details={"dataset_wide_only": True},
    )  # fmt: skip


def _end(reservation: LedgerEntry, kind: str, request_id: str) -> LedgerEntry:
    if reservation.kind != LedgerEntry.Kind.RESERVE:
        raise ValueError("only a reservation can be committed or released")
    dataset = reservation.dataset
    accounts = [_locked_account(dataset=dataset, user=None)]
    if not reservation.reference.startswith(DATASET_WIDE):
        accounts.append(_locked_account(dataset=dataset, user=reservation.user))
    existing = LedgerEntry.objects.filter(reservation=reservation).first()
    if existing is not None:
        return existing
    cost = _cost_of(reservation)
    for account in accounts:
        account.reserved_epsilon -= cost.epsilon
        account.reserved_delta -= cost.delta
        account.reserved_rho -= cost.rho
        if kind == LedgerEntry.Kind.COMMIT:
            account.spent_epsilon += cost.epsilon
            account.spent_delta += cost.delta
            account.spent_rho += cost.rho
        account_write(account, limit=Limits(account.epsilon_limit, account.delta_limit))
    ending = LedgerEntry.objects.create(
        kind=kind,
        reservation=reservation,
        dataset=dataset,
        user=reservation.user,
        mechanism=reservation.mechanism,
        epsilon=cost.epsilon,
        delta=cost.delta,
        rho=cost.rho,
        reference=reservation.reference,
    )
    audit_record(
        actor=reservation.user,
        action=f"budget.{kind}",
        obj=dataset,
        request_id=request_id,
        details={"reservation": reservation.pk, **_cost_details(cost)},
    )
    return ending


@transaction.atomic
def budget_commit(*, reservation: LedgerEntry, request_id: str = "") -> LedgerEntry:
    """The release happened, or data was touched: the reservation becomes spent. Idempotent."""
    return _end(reservation, LedgerEntry.Kind.COMMIT, request_id)


@transaction.atomic
def budget_release(*, reservation: LedgerEntry, request_id: str = "") -> LedgerEntry:
    """Give a reservation back. Only for releases that touched no data. Idempotent."""
    return _end(reservation, LedgerEntry.Kind.RELEASE, request_id)


def _ledger_used(dataset: Dataset, user: User | None) -> tuple[PrivacyCost, PrivacyCost]:
    entries = LedgerEntry.objects.filter(dataset=dataset)
    if user is not None:
        entries = entries.filter(user=user).exclude(reference__startswith=DATASET_WIDE)

    def total(kind: str) -> PrivacyCost:
        sums = entries.filter(kind=kind).aggregate(e=Sum("epsilon"), d=Sum("delta"), r=Sum("rho"))
        return PrivacyCost(epsilon=sums["e"] or ZERO, delta=sums["d"] or ZERO, rho=sums["r"] or ZERO)

    spent = total(LedgerEntry.Kind.COMMIT)
    reserved = total(LedgerEntry.Kind.RESERVE) - spent - total(LedgerEntry.Kind.RELEASE)
    return spent, reserved


def balance_for(*, dataset: Dataset, user: User | None, limit: Limits) -> Balance:
    """A budget's balance, derived from the ledger (the accounts only guard it)."""
    spent, reserved = _ledger_used(dataset, user)
    return Balance(
        limit=limit, spent=spent, reserved=reserved, epsilon_used=composed_epsilon(spent + reserved, limit.delta)
    )


def dataset_balance(dataset: Dataset) -> Balance | None:
    budget = DatasetBudget.objects.filter(dataset=dataset).first()
    if budget is None:
        return None
    return balance_for(dataset=dataset, user=None, limit=Limits(budget.epsilon_limit, budget.delta_limit))


def user_balance(*, user: User, dataset: Dataset) -> Balance | None:
    policy = policy_for(user=user, dataset=dataset)
    if policy is None:
        return None
    return balance_for(dataset=dataset, user=user, limit=_policy_limits(policy))


@dataclass(frozen=True)
class CostPreview:
    cost: PrivacyCost
    release_epsilon: Decimal
    user_balance: Balance | None
    dataset_balance: Balance | None
    allowed: bool
    reason: str


def cost_preview(*, user: User, dataset: Dataset, cost: PrivacyCost, mechanism: str) -> CostPreview:
    """What a release would cost and whether it would be granted now. Charges nothing; uses only
    the release's parameters, the policy and the budgets, never the data."""
    reason = ""
    user_bal = user_balance(user=user, dataset=dataset)
    dataset_bal = dataset_balance(dataset)
    delta_for_epsilon = user_bal.limit.delta if user_bal else ZERO
    try:
        policy = usable_policy(user=user, dataset=dataset, mechanism=mechanism)
        _check_cap(policy, cost, dataset)
        dataset_limit = _dataset_limits(dataset)
        _check_room(
            used=_ledger_total(dataset_bal), cost=cost, limit=dataset_limit, whose="the dataset-wide", dataset=dataset
        )
        _check_room(
            used=_ledger_total(user_bal), cost=cost, limit=_policy_limits(policy), whose="your", dataset=dataset
        )
    except ApplicationError as refusal:
        reason = refusal.message
    return CostPreview(
        cost=cost,
        release_epsilon=release_epsilon(cost, delta_for_epsilon),
        user_balance=user_bal,
        dataset_balance=dataset_bal,
        allowed=not reason,
        reason=reason,
    )


def _ledger_total(balance: Balance | None) -> PrivacyCost:
    return balance.spent + balance.reserved if balance else PrivacyCost()
