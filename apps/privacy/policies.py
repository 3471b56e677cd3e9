"""Which policy governs a user on a dataset. Reads only."""

from typing import Any

from django.db.models import Q

from apps.catalog.models import Dataset
from apps.privacy.models import Policy

_SCOPE_RANK = {"dataset": 0, "product": 1, "domain": 2}


def _scope_of(policy: Policy) -> str:
    if policy.dataset_id:
        return "dataset"
    return "product" if policy.product_id else "domain"


def policy_rank(policy: Policy) -> tuple[int, int, Any, int]:
    """Lower is stronger: the most specific scope, then the user's own policy over a group's, then
    (between two groups at one scope) the larger budget."""
    return (_SCOPE_RANK[_scope_of(policy)], 0 if policy.user_id else 1, -policy.epsilon_budget, policy.pk)


def candidate_policies(*, user: Any, dataset: Dataset) -> list[Policy]:
    scope = Q(dataset=dataset) | Q(domain_id=dataset.domain_id)
    if dataset.product_id:
        scope |= Q(product_id=dataset.product_id)
    subject = Q(user=user) | Q(group__in=user.groups.all())
    return list(Policy.objects.filter(scope & subject).select_related("user", "group"))


def policy_for(*, user: Any, dataset: Dataset) -> Policy | None:
    """The policy in force for ``user`` on ``dataset`` (expired ones included: callers say so)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    candidates = candidate_policies(user=user, dataset=dataset)
    return min(candidates, key=policy_rank) if candidates else None
