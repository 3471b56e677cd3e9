"""Reads of policies, budgets and requests, filtered to what a user may see: their own, and
everything on the domains and products they own (admins see all)."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.catalog.models import Dataset
from apps.catalog.selectors import dataset_list_for
from apps.privacy.accountant import Balance, dataset_balance, user_balance
from apps.privacy.models import AccessRequest, DatasetBudget, Policy
from apps.privacy.policies import policy_for


def _managed(user: Any, prefix: str) -> Q:
    """Objects whose dataset/product/domain (reached through ``prefix``) belong to a domain the user
    owns: the same people ``can_manage_policies`` lets manage them."""
    return (
        Q(**{f"{prefix}domain__owners": user})
        | Q(**{f"{prefix}product__domain__owners": user})
        | Q(**{f"{prefix}dataset__domain__owners": user})
    )


def policy_list_for(*, user: Any) -> QuerySet[Policy]:
    policies = Policy.objects.select_related("user", "group", "domain", "product__domain", "dataset")
    if not (user and user.is_authenticated and user.is_active):
        return policies.none()
    if user.is_superuser:
        return policies
    rule = Q(user=user) | Q(group__in=user.groups.all()) | _managed(user, "")
    return policies.filter(pk__in=Policy.objects.filter(rule).values("pk"))


def policy_get_for(*, user: Any, pk: Any) -> Policy:
    try:
        return policy_list_for(user=user).get(pk=int(pk))
    except (Policy.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def managed_datasets_for(*, user: Any) -> QuerySet[Dataset]:
    """Confidential datasets whose policies and budget the user manages."""
    datasets = dataset_list_for(user=user).filter(sensitivity="confidential")
    if user.is_superuser:
        return datasets
    return datasets.filter(domain__owners=user).distinct()


def dataset_policies(*, dataset: Dataset) -> QuerySet[Policy]:
    """Every policy that can govern someone on ``dataset``, most specific scope first."""
    scope = Q(dataset=dataset) | Q(domain_id=dataset.domain_id)
    if dataset.product_id:
        scope |= Q(product_id=dataset.product_id)
    return Policy.objects.filter(scope).select_related("user", "group", "domain", "product", "dataset")


def access_request_list_for(*, user: Any) -> QuerySet[AccessRequest]:
    requests = AccessRequest.objects.select_related("requester", "dataset__domain", "decided_by")
    if not (user and user.is_authenticated and user.is_active):
        return requests.none()
    if user.is_superuser:
        return requests
    rule = Q(requester=user) | Q(dataset__domain__owners=user)
    return requests.filter(pk__in=AccessRequest.objects.filter(rule).values("pk"))


def access_request_get_for(*, user: Any, pk: Any) -> AccessRequest:
    try:
        return access_request_list_for(user=user).get(pk=int(pk))
    except (AccessRequest.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


@dataclass(frozen=True)
class Grant:
    dataset: Dataset
    policy: Policy
    balance: Balance | None


def grants_for(*, user: Any) -> list[Grant]:
    """The confidential datasets the user has a policy on, with what is left of each budget."""
    own = Policy.objects.filter(Q(user=user) | Q(group__in=user.groups.all()))
    in_scope = (
        Q(pk__in=own.values("dataset")) | Q(product__in=own.values("product")) | Q(domain__in=own.values("domain"))
    )
    grants = []
    for dataset in dataset_list_for(user=user).filter(in_scope, sensitivity="confidential").order_by("address"):
        policy = policy_for(user=user, dataset=dataset)
        if policy is not None:
            grants.append(Grant(dataset=dataset, policy=policy, balance=user_balance(user=user, dataset=dataset)))
    return grants


def dataset_budget_of(dataset: Dataset) -> tuple[DatasetBudget | None, Balance | None]:
    return DatasetBudget.objects.filter(dataset=dataset).first(), dataset_balance(dataset)
