"""Changes to policies and dataset-wide budgets. Each checks rights with the one permission check,
validates, keeps every account within its limits, and audits with before and after values."""

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

from apps.accounts.models import User
from apps.catalog.models import DataProduct, Dataset
from apps.core.errors import ApplicationError
from apps.domains.models import Domain
from apps.domains.permissions import domain_of, ensure_can_manage_policies
from apps.privacy.accountant import Limits, account_used, account_write
from apps.privacy.composition import composed_epsilon
from apps.privacy.models import AccessMode, BudgetAccount, DatasetBudget, Mechanism, Policy
from apps.privacy.policies import policy_for
from apps.privacy.validation import parse_delta, parse_epsilon, parse_expiry, parse_mechanisms, parse_mode
from apps.usage.services import audit_record

Scope = Dataset | DataProduct | Domain
DEFAULT_MECHANISMS = [Mechanism.GAUSSIAN, Mechanism.LAPLACE, Mechanism.SYNTHESIZER]


def _policy_state(policy: Policy) -> dict[str, Any]:
    return {
        "access_mode": policy.access_mode,
        "epsilon_budget": str(policy.epsilon_budget),
        "delta_budget": str(policy.delta_budget),
        "epsilon_per_release_cap": str(policy.epsilon_per_release_cap) if policy.epsilon_per_release_cap else None,
        "allowed_mechanisms": list(policy.allowed_mechanisms),
        "expires_at": policy.expires_at.isoformat() if policy.expires_at else None,
    }


def _scope_filter(scope: Scope) -> dict[str, Scope]:
    if isinstance(scope, Dataset):
        return {"dataset": scope}
    if isinstance(scope, DataProduct):
        return {"product": scope}
    return {"domain": scope}


def _datasets_in(scope: Scope) -> Any:
    if isinstance(scope, Dataset):
        return Dataset.objects.filter(pk=scope.pk)
    if isinstance(scope, DataProduct):
        return Dataset.objects.filter(product=scope)
    return Dataset.objects.filter(domain=scope)


def _check_raw_allowed(*, mode: str, scope: Scope, user: User | None) -> None:
    if mode != AccessMode.RAW:
        return
    if isinstance(scope, Dataset) and not scope.is_confidential:
        return
    if user is not None and domain_of(scope).owners.filter(pk=user.pk).exists():
        return
    raise ApplicationError(
        "Raw access is only for open datasets, or for the owners of the domain.", field="access_mode"
    )


def _refit_accounts(policy: Policy, scope: Scope) -> None:
    """Give every account now governed by ``policy`` its limits, refusing if one has used more."""
    users = User.objects.filter(pk=policy.user_id) if policy.user_id else policy.group.user_set.all()
    accounts = (
        BudgetAccount.objects.select_for_update()
        .filter(user__in=users, dataset__in=_datasets_in(scope))
        .select_related("user", "dataset")
        .order_by("pk")
    )
    limit = Limits(policy.epsilon_budget, policy.delta_budget)
    for account in accounts:
        if policy_for(user=account.user, dataset=account.dataset) != policy:
            continue
        used = account_used(account)
        if used.delta > limit.delta or composed_epsilon(used, limit.delta) > limit.epsilon:
            raise ApplicationError(
                f"{account.user.username} has already spent or reserved epsilon "
                f"{composed_epsilon(used, limit.delta).normalize()} and delta {used.delta.normalize()} on "
                f"{account.dataset.address}: the budget cannot go below that.",
                field="epsilon_budget",
            )
        account_write(account, limit=limit)


@transaction.atomic
def policy_save(
    *,
    actor: User,
    scope: Scope,
    user: User | None = None,
    group: Group | None = None,
    access_mode: Any = AccessMode.DP,
    epsilon_budget: Any = "1",
    delta_budget: Any = "0",
    epsilon_per_release_cap: Any = None,
    allowed_mechanisms: Any = None,
    expires_at: Any = None,
    request_id: str = "",
) -> Policy:
    """Create the policy of ``user`` or ``group`` on ``scope``, or change it if there is one."""
    ensure_can_manage_policies(actor, scope)
    if (user is None) == (group is None):
        raise ApplicationError("A policy is for one user or one group.", field="user")
    if user is not None and not user.is_active:
        raise ApplicationError("That user is not active.", field="user")
    mode = parse_mode(access_mode)
    _check_raw_allowed(mode=mode, scope=scope, user=user)
    values = {
        "access_mode": mode,
        "epsilon_budget": parse_epsilon(epsilon_budget, field="epsilon_budget"),
        "delta_budget": parse_delta(delta_budget, field="delta_budget"),
        "epsilon_per_release_cap": (
            None
            if epsilon_per_release_cap in (None, "")
            else parse_epsilon(epsilon_per_release_cap, field="epsilon_per_release_cap", allow_zero=False)
        ),
        "allowed_mechanisms": parse_mechanisms(
            DEFAULT_MECHANISMS if allowed_mechanisms is None else allowed_mechanisms
        ),
        "expires_at": parse_expiry(expires_at),
    }
    if mode != AccessMode.NONE and not values["allowed_mechanisms"]:
        raise ApplicationError("Allow at least one mechanism.", field="allowed_mechanisms")

    subject = {"user": user} if user is not None else {"group": group}
    policy = Policy.objects.select_for_update().filter(**subject, **_scope_filter(scope)).first()
    before = _policy_state(policy) if policy else None
    if policy is None:
        policy = Policy(**subject, **_scope_filter(scope), created_by=actor)
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save()
    _refit_accounts(policy, scope)
    after = _policy_state(policy)
    if before != after:
        audit_record(
            actor=actor,
            action="policy.create" if before is None else "policy.update",
            obj=policy,
            request_id=request_id,
            details={"subject": policy.subject_label, "scope": policy.scope_label, "before": before, "after": after},
        )
    return policy


@transaction.atomic
def policy_revoke(*, actor: User, policy: Policy, request_id: str = "") -> None:
    """Remove a grant. What was spent under it stays in the ledger and the accounts."""
    scope = policy.dataset or policy.product or policy.domain
    ensure_can_manage_policies(actor, scope)
    audit_record(
        actor=actor,
        action="policy.revoke",
        obj=policy,
        request_id=request_id,
        details={
            "subject": policy.subject_label,
            "scope": policy.scope_label,
            "before": _policy_state(policy),
            "after": None,
        },
    )
    policy.delete()


@transaction.atomic
def dataset_budget_set(
    *, actor: User, dataset: Dataset, epsilon_limit: Any, delta_limit: Any = "0", request_id: str = ""
) -> DatasetBudget:
    """Set the total privacy loss the owners accept on a confidential dataset."""
    ensure_can_manage_policies(actor, dataset)
    if not dataset.is_confidential:
        raise ApplicationError(f"{dataset.address} is open: it has no privacy budget.")
    limit = Limits(parse_epsilon(epsilon_limit, field="epsilon_limit"), parse_delta(delta_limit, field="delta_limit"))
    BudgetAccount.objects.bulk_create([BudgetAccount(dataset=dataset, user=None)], ignore_conflicts=True)
    account = BudgetAccount.objects.select_for_update().get(dataset=dataset, user=None)
    used = account_used(account)
    if used.delta > limit.delta or composed_epsilon(used, limit.delta) > limit.epsilon:
        raise ApplicationError(
            f"{composed_epsilon(used, limit.delta).normalize()} epsilon and {used.delta.normalize()} delta of "
            f"{dataset.address} are already spent or reserved: the budget cannot go below that.",
            field="epsilon_limit",
        )
    account_write(account, limit=limit)
    budget = DatasetBudget.objects.select_for_update().filter(dataset=dataset).first()
    before = {"epsilon_limit": str(budget.epsilon_limit), "delta_limit": str(budget.delta_limit)} if budget else None
    budget = budget or DatasetBudget(dataset=dataset)
    budget.epsilon_limit, budget.delta_limit = limit.epsilon, limit.delta
    budget.save()
    after = {"epsilon_limit": str(limit.epsilon), "delta_limit": str(limit.delta)}
    if before != after:
        audit_record(
            actor=actor,
            action="dataset_budget.set",
            obj=dataset,
            request_id=request_id,
            details={"before": before, "after": after},
        )
    return budget
