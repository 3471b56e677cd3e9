"""Creating a domain and naming its owners: the catalog's services do neither yet (the demo mesh
writes domains directly, ``domain_update`` leaves owners alone). They belong in
``apps/catalog/services.py``; governance files use them until they move there."""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.text import slugify

from apps.accounts.models import User
from apps.core.errors import ApplicationError, Forbidden
from apps.domains.models import Domain, Sensitivity
from apps.domains.permissions import ensure_can_edit
from apps.usage.services import audit_record


@transaction.atomic
def domain_create(
    *,
    actor: User,
    slug: str,
    name: str = "",
    description: str = "",
    sensitivity: str = Sensitivity.OPEN,
    owners: Iterable[str] = (),
    visible_to_groups: Iterable[str] = (),
    request_id: str = "",
) -> Domain:
    """Create a domain; admins only. (No catalog service creates domains yet.)"""
    if not (actor.is_active and actor.is_superuser):
        raise Forbidden("Only admins can create domains.")
    if not slug or slugify(slug) != slug or len(slug) > 63:
        raise ApplicationError("slug must be a slug: lower-case letters, digits, - or _.", field="slug")
    if sensitivity not in Sensitivity.values:
        raise ApplicationError(f"sensitivity must be one of: {', '.join(Sensitivity.values)}.", field="sensitivity")
    if Domain.objects.filter(slug=slug).exists():
        raise ApplicationError("A domain with this slug already exists.", field="slug")
    owners, visible_to_groups = sorted(set(owners)), sorted(set(visible_to_groups))
    users = list(User.objects.filter(username__in=owners, is_active=True))
    groups = list(Group.objects.filter(name__in=visible_to_groups))
    if len(users) != len(owners):
        raise ApplicationError("Every owner must be an active user.", field="owners")
    if len(groups) != len(visible_to_groups):
        raise ApplicationError("Every group must exist.", field="visible_to_groups")
    domain = Domain.objects.create(
        slug=slug, name=(name or slug)[:200], description=description.strip(), sensitivity=sensitivity
    )
    domain.owners.set(users)
    domain.visible_to_groups.set(groups)
    after = {"name": domain.name, "sensitivity": sensitivity, "owners": owners, "visible_to_groups": visible_to_groups}
    audit_record(
        actor=actor, action="domain.create", obj=domain, request_id=request_id, details={"before": None, "after": after}
    )
    return domain


@transaction.atomic
def domain_owners_set(*, actor: User, domain: Domain, owners: Iterable[str], request_id: str = "") -> Domain:
    """Name exactly these users as the domain's owners. (``domain_update`` does not change owners.)"""
    ensure_can_edit(actor, domain)
    domain = Domain.objects.select_for_update().get(pk=domain.pk)
    wanted = sorted(set(owners))
    users = list(User.objects.filter(username__in=wanted, is_active=True))
    if len(users) != len(wanted):
        raise ApplicationError("Every owner must be an active user.", field="owners")
    old = sorted(domain.owners.values_list("username", flat=True))
    if old != wanted:
        domain.owners.set(users)
        audit_record(
            actor=actor,
            action="domain.update",
            obj=domain,
            request_id=request_id,
            details={"before": {"owners": old}, "after": {"owners": wanted}},
        )
    return domain
