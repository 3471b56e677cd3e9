"""Plan and apply a governance file: every change through the services the UI and the API use."""

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.http import Http404

from apps.accounts.models import User
from apps.catalog.models import DataProduct, Dataset
from apps.catalog.services import dataset_update, domain_update, product_create, product_update
from apps.core.errors import ApplicationError
from apps.domains.crypto import decrypt_password
from apps.domains.models import Backend, Domain
from apps.domains.services import backend_register, backend_update
from apps.privacy.governance.checks import check_references
from apps.privacy.governance.domains import domain_create, domain_owners_set
from apps.privacy.governance.spec import (
    BackendSpec,
    BudgetSpec,
    DomainSpec,
    GovernanceError,
    PolicySpec,
    Problem,
    ProductSpec,
    Spec,
    policy_target,
    read_governance,
)
from apps.privacy.models import DatasetBudget, Policy
from apps.privacy.services import DEFAULT_MECHANISMS, dataset_budget_set, policy_revoke, policy_save
from apps.privacy.validation import parse_mechanisms

REQUEST_ID = "governance"
_POLICY_DEFAULTS: dict[str, Any] = {
    "delta_budget": Decimal(0),
    "epsilon_per_release_cap": None,
    "allowed_mechanisms": parse_mechanisms([str(m) for m in DEFAULT_MECHANISMS]),
    "expires_at": None,
}


@dataclass(frozen=True)
class Change:
    symbol: str  # + create, ~ change, - revoke, ! not applied
    target: str
    detail: str
    line: int
    applies: bool = True  # False: only reported (not applied, or revoked only with --prune)

    def __str__(self) -> str:
        return f"{self.symbol} {self.target}: {self.detail}"


@dataclass(frozen=True)
class Outcome:
    changes: list[Change]
    applied: bool


_REFUSALS = (ApplicationError, Http404, PermissionDenied, ValidationError, ObjectDoesNotExist, DatabaseError)


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return "not found, or not visible to the acting user."
    if isinstance(exc, PermissionDenied):
        return "the acting user may not change it."
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return "the database refused the change."


class _Run:
    def __init__(self, actor: User, *, prune: bool) -> None:
        self.actor = actor
        self.prune = prune
        self.changes: list[Change] = []
        self.problems: list[Problem] = []

    def change(self, line: int, symbol: str, target: str, detail: str, action: Callable[[], object]) -> None:
        self.changes.append(Change(symbol, target, detail, line))
        try:
            with transaction.atomic():  # a refused change leaves the others usable, to report them all
                action()
        except _REFUSALS as exc:
            self.problems.append(Problem(line, f"{target}: {_refusal(exc)}"))

    def report(self, line: int, symbol: str, target: str, detail: str) -> None:
        self.changes.append(Change(symbol, target, detail, line, applies=False))


def decimal_text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def hours_of(duration: timedelta) -> Decimal:
    microseconds = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
    return (Decimal(microseconds) / Decimal(3_600_000_000)).quantize(Decimal("1e-10")).normalize()


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, timedelta):
        return f"{decimal_text(hours_of(value))}h"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return f"[{', '.join(map(str, value))}]"
    text = str(value)
    return text if re.fullmatch(r"[\w./-]+", text) else repr(text)


def _describe(diff: dict[str, tuple[Any, Any]]) -> str:
    parts = []
    for name, (old, new) in diff.items():
        if name in ("description", "url", "password"):
            parts.append(f"{name} changed")
        elif isinstance(old, list) and isinstance(new, list):
            moves = [f"+{item}" for item in new if item not in old] + [f"-{item}" for item in old if item not in new]
            parts.append(f"{name} {' '.join(moves)}")
        else:
            parts.append(f"{name} {_show(old)} -> {_show(new)}")
    return "; ".join(parts)


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """The file's values as the services take them."""
    return {
        name: [item.name for item in value] if name in ("owners", "visible_to_groups") else value
        for name, value in fields.items()
    }


def _comparable(fields: dict[str, Any]) -> dict[str, Any]:
    """The file's values in the form the ``_*_state`` functions read from the database."""
    values = _plain(fields)
    for name in ("owners", "visible_to_groups"):
        if name in values:
            values[name] = sorted(values[name])
    if values.get("freshness_hours") is not None:
        values["freshness_hours"] = timedelta(hours=float(values["freshness_hours"]))
    return values


def _differences(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {name: (current[name], value) for name, value in wanted.items() if current[name] != value}


def _domain_state(domain: Domain) -> dict[str, Any]:
    return {
        "name": domain.name,
        "description": domain.description.strip(),
        "sensitivity": domain.sensitivity,
        "owners": sorted(domain.owners.values_list("username", flat=True)),
        "visible_to_groups": sorted(domain.visible_to_groups.values_list("name", flat=True)),
    }


def _domain_change(actor: User, domain: Domain, values: dict[str, Any]) -> None:
    fields = {name: value for name, value in values.items() if name != "owners"}
    if fields:
        domain_update(actor=actor, domain=domain, request_id=REQUEST_ID, **fields)
    if "owners" in values:
        domain_owners_set(actor=actor, domain=domain, owners=values["owners"], request_id=REQUEST_ID)


def _apply_domain(run: _Run, spec: DomainSpec, claimed: set[str]) -> None:
    target = f"domain {spec.slug}"
    values = _plain(spec.fields)
    domain = Domain.objects.filter(slug=spec.slug).first()
    if domain is None:
        create = partial(domain_create, actor=run.actor, slug=spec.slug, request_id=REQUEST_ID, **values)
        run.change(spec.line, "+", target, "create", create)
        domain = Domain.objects.filter(slug=spec.slug).first()
        if domain is None:
            return
    elif diff := _differences(_domain_state(domain), _comparable(spec.fields)):
        changed = {name: values[name] for name in diff}
        run.change(spec.line, "~", target, _describe(diff), partial(_domain_change, run.actor, domain, changed))
    for backend in spec.backends:
        _apply_backend(run, domain, backend)
    for product in spec.products:
        _apply_product(run, domain, product, claimed)


def _stored_password(backend: Backend) -> str | None:
    try:
        return decrypt_password(backend.encrypted_password)
    except ApplicationError:
        return None  # not readable with the current key: setting it again is a change


def _apply_backend(run: _Run, domain: Domain, spec: BackendSpec) -> None:
    target = f"backend {domain.slug}.{spec.slug}"
    password = os.environ.get(spec.password_env, "") if spec.password_env else None
    backend = Backend.objects.filter(domain=domain, slug=spec.slug).first()
    if backend is None:
        register = partial(
            backend_register,
            actor=run.actor,
            domain=domain,
            slug=spec.slug,
            kind=spec.kind,
            url=spec.url,
            password=password or "",
        )
        run.change(spec.line, "+", target, f"register ({spec.kind})", register)
        return
    if backend.kind != spec.kind:
        run.report(
            spec.line,
            "!",
            target,
            f"kind {backend.kind} -> {spec.kind}: not applied (a registered backend's kind cannot change; "
            "register a new backend under another slug)",
        )
        return
    diff = {}
    if backend.url != spec.url:
        diff["url"] = (backend.url, spec.url)
    if password is not None and _stored_password(backend) != password:
        diff["password"] = ("", "")
    if diff:
        update = partial(
            backend_update,
            actor=run.actor,
            backend=backend,
            url=spec.url if "url" in diff else None,
            password=password if "password" in diff else None,
            clear_password="password" in diff and not password,
        )
        run.change(spec.line, "~", target, _describe(diff), update)


def _product_state(product: DataProduct) -> dict[str, Any]:
    return {
        "name": product.name,
        "description": product.description.strip(),
        "owners": sorted(product.owners.values_list("username", flat=True)),
        "tags": sorted(product.tags.values_list("name", flat=True)),
        "status": product.status,
        "freshness_hours": product.freshness_expectation,
    }


def _product_create(actor: User, domain: Domain, slug: str, values: dict[str, Any]) -> None:
    product = product_create(
        actor=actor,
        domain=domain,
        slug=slug,
        name=values.get("name", slug),
        description=values.get("description", ""),
        tags=values.get("tags"),
        status=values.get("status", DataProduct.Status.ACTIVE),
        freshness_hours=values.get("freshness_hours"),
        request_id=REQUEST_ID,
    )
    if "owners" in values:  # product_create names the actor as the owner
        product_update(actor=actor, product=product, owners=values["owners"], request_id=REQUEST_ID)


def _apply_product(run: _Run, domain: Domain, spec: ProductSpec, claimed: set[str]) -> None:
    target = f"product {domain.slug}/{spec.slug}"
    values = _plain(spec.fields)
    product = DataProduct.objects.filter(domain=domain, slug=spec.slug).first()
    if product is None:
        run.change(spec.line, "+", target, "create", partial(_product_create, run.actor, domain, spec.slug, values))
        product = DataProduct.objects.filter(domain=domain, slug=spec.slug).first()
        if product is None:
            return
    elif diff := _differences(_product_state(product), _comparable(spec.fields)):
        update = partial(
            product_update,
            actor=run.actor,
            product=product,
            request_id=REQUEST_ID,
            **{name: values[name] for name in diff},
        )
        run.change(spec.line, "~", target, _describe(diff), update)
    if spec.datasets is None:
        return
    label = f"{domain.slug}/{product.slug}"
    for ref in spec.datasets:
        dataset = Dataset.objects.select_related("product").get(address=ref.name)
        if dataset.product_id != product.pk:
            old = f"{domain.slug}/{dataset.product.slug}" if dataset.product else None
            move = partial(dataset_update, actor=run.actor, dataset=dataset, product=product, request_id=REQUEST_ID)
            run.change(ref.line, "~", f"dataset {ref.name}", f"product {_show(old)} -> {label}", move)
    for dataset in product.datasets.exclude(address__in=claimed).order_by("address"):
        drop = partial(dataset_update, actor=run.actor, dataset=dataset, product=None, request_id=REQUEST_ID)
        run.change(spec.line, "~", f"dataset {dataset.address}", f"product {label} -> (none)", drop)


def _apply_budget(run: _Run, spec: BudgetSpec) -> None:
    target = f"budget of {spec.dataset.name}"
    dataset = Dataset.objects.get(address=spec.dataset.name)
    budget = DatasetBudget.objects.filter(dataset=dataset).first()
    delta = spec.delta_limit if spec.delta_limit is not None else (budget.delta_limit if budget else Decimal(0))
    save = partial(
        dataset_budget_set,
        actor=run.actor,
        dataset=dataset,
        epsilon_limit=spec.epsilon_limit,
        delta_limit=delta,
        request_id=REQUEST_ID,
    )
    if budget is None:
        summary = f"epsilon_limit {_show(spec.epsilon_limit)}, delta_limit {_show(delta)}"
        run.change(spec.line, "+", target, summary, save)
    elif diff := _differences(
        {"epsilon_limit": budget.epsilon_limit, "delta_limit": budget.delta_limit},
        {"epsilon_limit": spec.epsilon_limit, "delta_limit": delta},
    ):
        run.change(spec.line, "~", target, _describe(diff), save)


def policy_key(policy: Policy) -> tuple[str, str, str, str]:
    subject = ("user", policy.user.username) if policy.user_id else ("group", policy.group.name)
    if policy.dataset_id:
        return (*subject, "dataset", policy.dataset.address)
    if policy.product_id:
        return (*subject, "product", f"{policy.product.domain.slug}/{policy.product.slug}")
    return (*subject, "domain", policy.domain.slug)


def _policy_state(policy: Policy) -> dict[str, Any]:
    return {
        "access_mode": policy.access_mode,
        "epsilon_budget": policy.epsilon_budget,
        "delta_budget": policy.delta_budget,
        "epsilon_per_release_cap": policy.epsilon_per_release_cap,
        "allowed_mechanisms": sorted(policy.allowed_mechanisms),
        "expires_at": policy.expires_at,
    }


def _scope_of(kind: str, ref: str) -> Dataset | DataProduct | Domain:
    if kind == "dataset":
        return Dataset.objects.get(address=ref)
    if kind == "product":
        domain, slug = ref.split("/", 1)
        return DataProduct.objects.get(domain__slug=domain, slug=slug)
    return Domain.objects.get(slug=ref)


def _apply_policy(run: _Run, spec: PolicySpec) -> None:
    target = policy_target(spec.key)
    (subject_kind, subject_ref), (scope_kind, scope_ref) = spec.subject, spec.scope
    try:
        subject = (
            {"user": User.objects.get(username=subject_ref.name)}
            if subject_kind == "user"
            else {"group": Group.objects.get(name=subject_ref.name)}
        )
        scope = _scope_of(scope_kind, scope_ref.name)
    except ObjectDoesNotExist:  # its domain or product was refused above
        run.problems.append(Problem(spec.line, f"{target}: its {scope_kind} does not exist."))
        return
    policy = Policy.objects.filter(**subject, **{scope_kind: scope}).first()
    current = _policy_state(policy) if policy else None
    wanted = {**(current or _POLICY_DEFAULTS), **spec.fields}
    save = partial(policy_save, actor=run.actor, scope=scope, request_id=REQUEST_ID, **subject, **wanted)
    if current is None:
        epsilon, delta = _show(wanted["epsilon_budget"]), _show(wanted["delta_budget"])
        summary = f"{wanted['access_mode']}, epsilon {epsilon}, delta {delta}"
        run.change(spec.line, "+", target, summary, save)
    elif diff := _differences(current, wanted):
        run.change(spec.line, "~", target, _describe(diff), save)


def _apply_prune(run: _Run, spec: Spec) -> None:
    slugs = [domain.slug for domain in spec.domains]
    named = {policy.key for policy in spec.policies}
    policies = Policy.objects.filter(
        Q(domain__slug__in=slugs) | Q(product__domain__slug__in=slugs) | Q(dataset__domain__slug__in=slugs)
    ).select_related("user", "group", "domain", "product__domain", "dataset")
    for key, policy in sorted(((policy_key(policy), policy) for policy in policies), key=lambda item: item[0]):
        if key in named:
            continue
        if run.prune:
            revoke = partial(policy_revoke, actor=run.actor, policy=policy, request_id=REQUEST_ID)
            run.change(0, "-", policy_target(key), "revoke", revoke)
        else:
            run.report(0, "-", policy_target(key), "would revoke (with --prune)")


def _reconcile(run: _Run, spec: Spec) -> None:
    claimed = {ref.name for domain in spec.domains for product in domain.products for ref in product.datasets or []}
    for domain in spec.domains:
        _apply_domain(run, domain, claimed)
    for budget in spec.budgets:
        _apply_budget(run, budget)
    for policy in spec.policies:
        _apply_policy(run, policy)
    _apply_prune(run, spec)


class _RollBack(Exception):
    pass


def _execute(*, text: str, actor: User, prune: bool, commit: bool) -> Outcome:
    spec, problems = read_governance(text)
    problems += check_references(spec)
    if problems:
        raise GovernanceError(problems)
    run = _Run(actor, prune=prune)
    try:
        with transaction.atomic():
            _reconcile(run, spec)
            if run.problems:
                raise GovernanceError(run.problems)
            if not commit:
                raise _RollBack
    except _RollBack:
        pass
    return Outcome(run.changes, applied=commit)


def governance_plan(*, text: str, actor: User, prune: bool = False) -> Outcome:
    """What ``governance_apply`` would change: the same changes, run in a transaction rolled back."""
    return _execute(text=text, actor=actor, prune=prune, commit=False)


def governance_apply(*, text: str, actor: User, prune: bool = False) -> Outcome:
    """Apply the file in one transaction, or raise ``GovernanceError`` and change nothing."""
    return _execute(text=text, actor=actor, prune=prune, commit=True)


def governance_actor(username: str | None) -> User:
    """The named active user, or else the first active superuser."""
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ApplicationError(f"There is no active user named {username!r} to act as.")
        return user
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise ApplicationError(
            "There is no active superuser to act as: create one (manage.py createsuperuser) or pass --actor USERNAME."
        )
    return user


def format_outcome(outcome: Outcome) -> str:
    todo = [change for change in outcome.changes if change.applies]
    lines = [] if todo else ["No changes."]
    lines += [str(change) for change in outcome.changes]
    if todo:
        counts = Counter(change.symbol for change in todo)
        numbers = (counts["+"], counts["~"], counts["-"])
        template = (
            "Applied: {} created, {} changed, {} revoked."
            if outcome.applied
            else ("Plan: {} to create, {} to change, {} to revoke.")
        )
        lines.append(template.format(*numbers))
    skipped = sum(change.symbol == "!" for change in outcome.changes)
    if skipped:
        lines.append(f"{skipped} not applied (marked !): change {'it' if skipped == 1 else 'them'} in the portal.")
    return "\n".join(lines)
