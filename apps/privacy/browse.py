"""Reads behind the privacy pages, built on ``selectors`` and the accountant's balances. What a
user may not see or manage is missing (``Http404``), never forbidden."""

from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Prefetch, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.catalog.selectors import dataset_get_for, dataset_list_for
from apps.domains.permissions import can_manage_policies
from apps.privacy.accountant import DATASET_WIDE, Balance, user_balance
from apps.privacy.composition import ZERO, PrivacyCost, composed_epsilon
from apps.privacy.models import AccessRequest, BudgetAccount, DatasetBudget, LedgerEntry, Policy
from apps.privacy.policies import policy_for
from apps.privacy.selectors import (
    access_request_get_for,
    access_request_list_for,
    dataset_budget_of,
    dataset_policies,
    grants_for,
    managed_datasets_for,
)

PENDING = AccessRequest.Status.PENDING
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Usage:
    """One budget in epsilon as the pages show it: ``spent`` composes the committed charges,
    ``reserved`` is what the running reservations add to them (rho does not add linearly)."""

    epsilon_limit: Decimal
    delta_limit: Decimal
    spent: Decimal
    reserved: Decimal
    used: Decimal
    remaining: Decimal
    delta_used: Decimal
    delta_remaining: Decimal

    @property
    def percent(self) -> int:
        if self.epsilon_limit <= 0:
            return 100 if self.used > 0 else 0
        if not self.used.is_finite():
            return 100
        return min(100, int(self.used * 100 / self.epsilon_limit))


def usage_of(balance: Balance | None) -> Usage | None:
    if balance is None:
        return None
    spent = composed_epsilon(balance.spent, balance.limit.delta)
    return Usage(
        epsilon_limit=balance.limit.epsilon,
        delta_limit=balance.limit.delta,
        spent=spent,
        reserved=balance.epsilon_used - spent if spent.is_finite() else ZERO,
        used=balance.epsilon_used,
        remaining=balance.epsilon_remaining,
        delta_used=balance.spent.delta + balance.reserved.delta,
        delta_remaining=balance.delta_remaining,
    )


def scope_kind(policy: Policy) -> str:
    if policy.dataset_id:
        return "dataset"
    return "product" if policy.product_id else "domain"


def managed_dataset_get_for(*, user: Any, address: str) -> Dataset:
    """A dataset whose policies ``user`` manages; ``Http404`` for everyone else, viewers included."""
    dataset = dataset_get_for(user=user, address=address)
    if not can_manage_policies(user, dataset):
        raise Http404("Not found.")
    return dataset


# --- spending over time ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpendingDay:
    day: date
    epsilon: Decimal | None
    cumulative: Decimal | None


def spending_of(dataset: Dataset, *, delta_limit: Decimal) -> list[SpendingDay]:
    """Epsilon used on ``dataset`` by the end of each day with ledger activity: reservations count
    from the day they were made (committed or still running), releases give theirs back."""
    rows = (
        LedgerEntry.objects.filter(dataset=dataset)
        .exclude(kind=LedgerEntry.Kind.COMMIT)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "kind")
        .annotate(e=Sum("epsilon"), d=Sum("delta"), r=Sum("rho"))
        .order_by("day", "kind")
    )
    by_day: dict[date, _Net] = {}
    for row in rows:
        sign = 1 if row["kind"] == LedgerEntry.Kind.RESERVE else -1
        change = _Net(sign * row["e"], sign * row["d"], sign * row["r"])
        by_day[row["day"]] = by_day.get(row["day"], _Net()).plus(change)
    days: list[SpendingDay] = []
    total, before = _Net(), ZERO
    for day in sorted(by_day):
        total = total.plus(by_day[day])
        cumulative = composed_epsilon(total.cost(), delta_limit)
        change = cumulative - before if cumulative.is_finite() and before.is_finite() else None
        days.append(SpendingDay(day, change, cumulative if cumulative.is_finite() else None))
        before = cumulative
    return days


@dataclass(frozen=True)
class _Net:
    """A running sum that may dip below zero within a day (a release of an earlier reservation)."""

    epsilon: Decimal = ZERO
    delta: Decimal = ZERO
    rho: Decimal = ZERO

    def plus(self, other: "_Net") -> "_Net":
        return _Net(self.epsilon + other.epsilon, self.delta + other.delta, self.rho + other.rho)

    def cost(self) -> PrivacyCost:
        return PrivacyCost(max(self.epsilon, ZERO), max(self.delta, ZERO), max(self.rho, ZERO))


def spending_chart_data(dataset: Dataset, budget: DatasetBudget | None, days: list[SpendingDay]) -> dict[str, Any]:
    """What ``static/js/privacy.js`` draws, as exact decimal strings."""
    return {
        "dataset": dataset.address,
        "limit": _text(budget.epsilon_limit) if budget else None,
        "points": [
            {"day": d.day.isoformat(), "epsilon": _text(d.epsilon), "cumulative": _text(d.cumulative)} for d in days
        ],
    }


def _text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


# --- the policy editor of one dataset --------------------------------------------------------


@dataclass(frozen=True)
class PolicyRow:
    policy: Policy
    scope: str
    in_force: bool
    usage: Usage | None


@dataclass(frozen=True)
class AccountRow:
    user: User
    policy: Policy | None
    usage: Usage | None


@dataclass(frozen=True)
class EditorPage:
    dataset: Dataset
    budget: DatasetBudget | None
    usage: Usage | None
    policies: list[PolicyRow]
    accounts: list[AccountRow]
    spending: list[SpendingDay]
    chart: dict[str, Any]
    pending_requests: int


def policy_rows(dataset: Dataset) -> tuple[list[PolicyRow], list[AccountRow]]:
    """Every policy that can govern someone on ``dataset``, and every user with an account or an own
    policy there, with what they have spent, reserved and left."""
    policies = sorted(dataset_policies(dataset=dataset), key=_policy_order)
    in_force: dict[int, Policy | None] = {}
    users: dict[int, User] = {}
    for policy in policies:
        if policy.user_id:
            users[policy.user_id] = policy.user
    for account in BudgetAccount.objects.filter(dataset=dataset, user__isnull=False).select_related("user"):
        users[account.user_id] = account.user
    accounts = []
    for user in sorted(users.values(), key=lambda u: u.username):
        in_force[user.pk] = policy_for(user=user, dataset=dataset)
        accounts.append(
            AccountRow(user=user, policy=in_force[user.pk], usage=usage_of(user_balance(user=user, dataset=dataset)))
        )
    usage_by_user = {row.user.pk: row.usage for row in accounts}
    rows = []
    for policy in policies:
        governs = bool(policy.user_id) and in_force.get(policy.user_id) == policy
        rows.append(
            PolicyRow(
                policy=policy,
                scope=scope_kind(policy),
                in_force=governs or not policy.user_id,
                usage=usage_by_user.get(policy.user_id) if governs else None,
            )
        )
    return rows, accounts


def _policy_order(policy: Policy) -> tuple[int, int, str]:
    rank = {"dataset": 0, "product": 1, "domain": 2}[scope_kind(policy)]
    return (rank, 0 if policy.user_id else 1, policy.subject_label)


def editor_page_for(*, user: Any, address: str) -> EditorPage:
    dataset = managed_dataset_get_for(user=user, address=address)
    budget, balance = dataset_budget_of(dataset)
    days = spending_of(dataset, delta_limit=budget.delta_limit if budget else ZERO)
    policies, accounts = policy_rows(dataset)
    return EditorPage(
        dataset=dataset,
        budget=budget,
        usage=usage_of(balance),
        policies=policies,
        accounts=accounts,
        spending=days,
        chart=spending_chart_data(dataset, budget, days),
        pending_requests=AccessRequest.objects.filter(dataset=dataset, status=PENDING).count(),
    )


# --- the index of what a user manages --------------------------------------------------------


@dataclass(frozen=True)
class ManagedRow:
    dataset: Dataset
    budget: DatasetBudget | None
    usage: Usage | None
    pending_requests: int


def managed_rows_for(*, user: Any) -> list[ManagedRow]:
    """The confidential datasets whose policies ``user`` manages (product owners see the products'
    datasets in ``managed_datasets_for`` but only domain owners and admins manage their policies)."""
    datasets = [d for d in managed_datasets_for(user=user).order_by("address") if can_manage_policies(user, d)]
    pending = dict(
        AccessRequest.objects.filter(dataset__in=datasets, status=PENDING)
        .values_list("dataset")
        .annotate(n=Count("pk"))
        .values_list("dataset", "n")
    )
    rows = []
    for dataset in datasets:
        budget, balance = dataset_budget_of(dataset)
        rows.append(ManagedRow(dataset, budget, usage_of(balance), pending.get(dataset.pk, 0)))
    return rows


# --- one user's grants, charges and requests -------------------------------------------------


@dataclass(frozen=True)
class GrantRow:
    dataset: Dataset
    policy: Policy
    scope: str
    usage: Usage | None
    expired: bool


@dataclass(frozen=True)
class Charge:
    reservation: LedgerEntry
    state: str
    ended_at: Any


@dataclass(frozen=True)
class UserPage:
    subject: User
    grants: list[GrantRow]
    charges: list[Charge]
    requests: list[AccessRequest]


def user_page_for(*, viewer: Any, username: str | None = None) -> UserPage:
    """``viewer``'s own page, or (admins only) another user's."""
    subject = viewer
    if username is not None:
        wanted = viewer.is_superuser and "\x00" not in username  # PostgreSQL text holds no NUL
        found = User.objects.filter(username=username).first() if wanted else None
        if found is None:
            raise Http404("Not found.")
        subject = found
    now = timezone.now()
    grants = [
        GrantRow(
            dataset=grant.dataset,
            policy=grant.policy,
            scope=scope_kind(grant.policy),
            usage=usage_of(grant.balance),
            expired=grant.policy.expires_at is not None and grant.policy.expires_at <= now,
        )
        for grant in grants_for(user=subject)
    ]
    reservations = (
        LedgerEntry.objects.filter(
            user=subject,
            kind=LedgerEntry.Kind.RESERVE,
            dataset__in=dataset_list_for(user=viewer, include_removed=True),
        )
        .exclude(reference__startswith=DATASET_WIDE)  # owner-funded: the dataset-wide budget's, not the user's
        .select_related("dataset")
        .prefetch_related(Prefetch("endings", to_attr="ending_list"))
        .order_by("-created_at", "-id")[:HISTORY_LIMIT]
    )
    charges = []
    for entry in reservations:
        ending = entry.ending_list[0] if entry.ending_list else None
        state = "reserved" if ending is None else ("charged" if ending.kind == LedgerEntry.Kind.COMMIT else "released")
        charges.append(Charge(reservation=entry, state=state, ended_at=ending.created_at if ending else None))
    requests = list(access_request_list_for(user=viewer).filter(requester=subject))
    return UserPage(subject=subject, grants=grants, charges=charges, requests=requests)


# --- access requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLists:
    mine: list[AccessRequest]
    to_decide: list[AccessRequest]


def request_lists_for(*, user: Any) -> RequestLists:
    requests = list(access_request_list_for(user=user).order_by("-created_at", "-id"))
    mine = [r for r in requests if r.requester_id == user.pk]
    others = [r for r in requests if r.requester_id != user.pk]
    # Pending ones first: they are the ones waiting for a decision.
    others.sort(key=lambda r: r.status != PENDING)
    return RequestLists(mine=mine, to_decide=others)


@dataclass(frozen=True)
class RequestPage:
    request: AccessRequest
    can_decide: bool
    can_withdraw: bool
    current_policy: Policy | None
    current_usage: Usage | None


def request_page_for(*, user: Any, pk: Any) -> RequestPage:
    request = access_request_get_for(user=user, pk=pk)
    pending = request.status == PENDING
    requester = request.requester
    return RequestPage(
        request=request,
        can_decide=pending and can_manage_policies(user, request.dataset),
        can_withdraw=pending and request.requester_id == user.pk,
        current_policy=policy_for(user=requester, dataset=request.dataset),
        current_usage=usage_of(user_balance(user=requester, dataset=request.dataset)),
    )


@dataclass(frozen=True)
class DatasetAccess:
    """What the dataset page's privacy panel and the request form show of the viewer's access."""

    dataset: Dataset
    policy: Policy | None
    usage: Usage | None
    expired: bool
    pending_request: AccessRequest | None
    can_manage: bool
    pending_requests: int


def dataset_access_for(*, user: Any, dataset: Dataset) -> DatasetAccess:
    policy = policy_for(user=user, dataset=dataset)
    can_manage = can_manage_policies(user, dataset)
    pending = AccessRequest.objects.filter(dataset=dataset, status=PENDING)
    return DatasetAccess(
        dataset=dataset,
        policy=policy,
        usage=usage_of(user_balance(user=user, dataset=dataset)) if policy else None,
        expired=bool(policy and policy.expires_at and policy.expires_at <= timezone.now()),
        pending_request=pending.filter(requester=user).first(),
        can_manage=can_manage,
        pending_requests=pending.count() if can_manage else 0,
    )


def requestable_dataset_get_for(*, user: Any, address: Any) -> Dataset:
    if not isinstance(address, str) or not address:
        raise Http404("Not found.")
    return dataset_get_for(user=user, address=address)
