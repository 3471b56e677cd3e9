"""Owners are named on domains and products; django-guardian holds the object permissions that
follow from it. These receivers keep both in step, whoever changes the owners (UI, API, admin,
governance files), so the permission check only ever asks guardian."""

from typing import Any

from django.db.models import Model
from guardian.shortcuts import assign_perm, remove_perm

from apps.accounts.models import User


def sync_owner_permissions(
    permission: str, instance: Model, action: str, model: type, pk_set: Any, reverse: bool
) -> None:
    if action not in ("post_add", "pre_remove", "pre_clear"):
        return
    if reverse:
        # ``instance`` is the user; ``pk_set`` the domains or products.
        owned_model = model
        targets = owned_model.objects.filter(pk__in=pk_set) if pk_set else instance_owned(instance, owned_model)
        users = [instance]
    else:
        targets = [instance]
        users = list(User.objects.filter(pk__in=pk_set)) if pk_set else list(instance.owners.all())
    change = assign_perm if action == "post_add" else remove_perm
    for target in targets:
        for user in users:
            change(permission, user, target)


def instance_owned(user: Any, owned_model: type) -> Any:
    return owned_model.objects.filter(owners=user)
