"""What a governance file names must exist: users, groups, datasets, domains, products. Reads only."""

import os
from collections.abc import Iterable

from django.contrib.auth.models import Group

from apps.accounts.models import User
from apps.catalog.models import DataProduct, Dataset
from apps.domains.models import Domain, Sensitivity
from apps.privacy.governance.spec import DomainSpec, Problem, Ref, Spec, is_valid


def _valid(refs: Iterable[Ref]) -> list[Ref]:
    return [ref for ref in refs if is_valid(ref.name)]


def _unknown(refs: list[Ref], known: set[str], what: str, hint: str = "") -> list[Problem]:
    return [Problem(ref.line, f"unknown {what} {ref.name!r}{hint}.") for ref in refs if ref.name not in known]


def _will_be_confidential(dataset: Dataset, described: dict[str, DomainSpec]) -> bool:
    domain = described.get(dataset.domain.slug)
    return dataset.is_confidential or (
        domain is not None and domain.fields.get("sensitivity") == Sensitivity.CONFIDENTIAL
    )


def _check_people(spec: Spec) -> list[Problem]:
    products = [product for domain in spec.domains for product in domain.products]
    user_refs = _valid(ref for entry in (*spec.domains, *products) for ref in entry.fields.get("owners", []))
    user_refs += _valid(policy.subject[1] for policy in spec.policies if policy.subject[0] == "user")
    group_refs = _valid(ref for domain in spec.domains for ref in domain.fields.get("visible_to_groups", []))
    group_refs += _valid(policy.subject[1] for policy in spec.policies if policy.subject[0] == "group")
    users = set(User.objects.filter(username__in={r.name for r in user_refs}).values_list("username", flat=True))
    groups = set(Group.objects.filter(name__in={r.name for r in group_refs}).values_list("name", flat=True))
    return _unknown(user_refs, users, "user") + _unknown(group_refs, groups, "group")


def _check_datasets(spec: Spec) -> list[Problem]:
    outputs = [
        (domain, ref) for domain in spec.domains for product in domain.products for ref in product.datasets or []
    ]
    refs = _valid(ref for _, ref in outputs)
    refs += _valid(budget.dataset for budget in spec.budgets)
    refs += _valid(policy.scope[1] for policy in spec.policies if policy.scope[0] == "dataset")
    datasets = {
        dataset.address: dataset
        for dataset in Dataset.objects.filter(address__in={ref.name for ref in refs}).select_related("domain")
    }
    problems = _unknown(refs, set(datasets), "dataset", ": datasets come from harvesting a backend, not from this file")
    for domain, ref in outputs:
        dataset = datasets.get(ref.name)
        if dataset is not None and is_valid(domain.slug) and dataset.domain.slug != domain.slug:
            message = f"dataset {ref.name!r} belongs to domain {dataset.domain.slug!r}, not {domain.slug!r}."
            problems.append(Problem(ref.line, message))
    described = {domain.slug: domain for domain in spec.domains}
    for budget in spec.budgets:
        dataset = datasets.get(budget.dataset.name)
        if dataset is not None and not _will_be_confidential(dataset, described):
            message = f"{dataset.address} is open: only confidential datasets have a privacy budget."
            problems.append(Problem(budget.line, message))
    return problems


def _check_scopes(spec: Spec) -> list[Problem]:
    domain_refs = _valid(policy.scope[1] for policy in spec.policies if policy.scope[0] == "domain")
    product_refs = _valid(policy.scope[1] for policy in spec.policies if policy.scope[0] == "product")
    domains = {domain.slug for domain in spec.domains}
    domains |= set(Domain.objects.filter(slug__in={ref.name for ref in domain_refs}).values_list("slug", flat=True))
    products = {f"{domain.slug}/{product.slug}" for domain in spec.domains for product in domain.products}
    in_domains = {ref.name.split("/", 1)[0] for ref in product_refs}
    products |= {
        f"{domain}/{slug}"
        for domain, slug in DataProduct.objects.filter(domain__slug__in=in_domains).values_list("domain__slug", "slug")
    }
    return _unknown(domain_refs, domains, "domain") + _unknown(product_refs, products, "product")


def _check_environment(spec: Spec) -> list[Problem]:
    return [
        Problem(backend.line, f"password_env: the environment variable {backend.password_env} is not set.")
        for domain in spec.domains
        for backend in domain.backends
        if is_valid(backend.password_env) and backend.password_env and backend.password_env not in os.environ
    ]


def check_references(spec: Spec) -> list[Problem]:
    """Every problem with what the file names; entries the reader found invalid are skipped."""
    return _check_people(spec) + _check_datasets(spec) + _check_scopes(spec) + _check_environment(spec)
