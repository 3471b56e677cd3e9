"""The current state, written in the format ``plan`` and ``apply`` read."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import yaml
from django.db.models import Q

from apps.accounts.models import User
from apps.catalog.models import DataProduct
from apps.domains.models import Domain
from apps.domains.permissions import can_edit, visible_domains
from apps.privacy.governance.apply import decimal_text, hours_of, policy_key
from apps.privacy.governance.spec import FORMAT_VERSION
from apps.privacy.models import DatasetBudget, Policy

_SCOPE_RANK = {"domain": 0, "product": 1, "dataset": 2}


class _Flow(list):
    """A short list, written on one line."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # the reader refuses aliases


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.Node:
    text = decimal_text(value)
    return dumper.represent_scalar(dumper.resolve(yaml.ScalarNode, text, (True, False)), text)


def _represent_flow(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(_Flow, _represent_flow)


def _names(values: Iterable[Any]) -> _Flow:
    return _Flow(sorted(str(value) for value in values))


def _export_product(product: DataProduct) -> dict[str, Any]:
    freshness = product.freshness_expectation
    return {
        "slug": product.slug,
        "name": product.name,
        "description": product.description.strip(),
        "owners": _names(user.username for user in product.owners.all()),
        "tags": _names(tag.name for tag in product.tags.all()),
        "status": str(product.status),
        "freshness_hours": hours_of(freshness) if freshness is not None else None,
        "datasets": sorted(dataset.address for dataset in product.datasets.all()),
    }


def _export_domain(domain: Domain) -> dict[str, Any]:
    return {
        "slug": domain.slug,
        "name": domain.name,
        "description": domain.description.strip(),
        "sensitivity": str(domain.sensitivity),
        "owners": _names(user.username for user in domain.owners.all()),
        "visible_to_groups": _names(group.name for group in domain.visible_to_groups.all()),
        "backends": [
            {"slug": backend.slug, "kind": str(backend.kind), "url": backend.url}
            for backend in sorted(domain.backends.all(), key=lambda backend: backend.slug)
        ],
        "products": [_export_product(p) for p in sorted(domain.products.all(), key=lambda product: product.slug)],
    }


def _export_policy(policy: Policy) -> dict[str, Any]:
    subject_kind, subject, scope_kind, scope = policy_key(policy)
    return {
        subject_kind: subject,
        scope_kind: scope,
        "access_mode": str(policy.access_mode),
        "epsilon_budget": policy.epsilon_budget,
        "delta_budget": policy.delta_budget,
        "epsilon_per_release_cap": policy.epsilon_per_release_cap,
        "allowed_mechanisms": _names(policy.allowed_mechanisms),
        "expires_at": policy.expires_at.isoformat() if policy.expires_at else None,
    }


def _policy_order(policy: Policy) -> tuple[int, str, str, str]:
    subject_kind, subject, scope_kind, scope = policy_key(policy)
    return (_SCOPE_RANK[scope_kind], scope, subject_kind, subject)


def governance_export(*, actor: User) -> str:
    """The state of every domain the actor manages (admins: all), in the format ``plan`` and ``apply`` read.

    Only managed domains: their policies name other people's grants, which analysts must not read.
    """
    visible = (
        visible_domains(actor)
        .order_by("slug")
        .prefetch_related(
            "owners", "visible_to_groups", "backends", "products__owners", "products__tags", "products__datasets"
        )
    )
    domains = [domain for domain in visible if can_edit(actor, domain)]
    budgets = DatasetBudget.objects.filter(dataset__domain__in=domains).select_related("dataset")
    policies = Policy.objects.filter(
        Q(domain__in=domains) | Q(product__domain__in=domains) | Q(dataset__domain__in=domains)
    ).select_related("user", "group", "domain", "product__domain", "dataset")
    state = {
        "version": int(FORMAT_VERSION),
        "domains": [_export_domain(domain) for domain in domains],
        "dataset_budgets": [
            {"dataset": b.dataset.address, "epsilon_limit": b.epsilon_limit, "delta_limit": b.delta_limit}
            for b in sorted(budgets, key=lambda budget: budget.dataset.address)
        ],
        "policies": [_export_policy(policy) for policy in sorted(policies, key=_policy_order)],
    }
    return yaml.dump(state, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000, default_flow_style=False)
