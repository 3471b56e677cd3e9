from typing import Any

from django.apps import AppConfig
from django.db.models.signals import m2m_changed


class DomainsConfig(AppConfig):
    name = "apps.domains"

    def ready(self) -> None:
        from apps.domains.models import Domain
        from apps.domains.ownership import sync_owner_permissions

        def domain_owners_changed(sender: Any, **kwargs: Any) -> None:
            sync_owner_permissions(
                "domains.manage_domain", **{k: kwargs[k] for k in ("instance", "action", "model", "pk_set", "reverse")}
            )

        m2m_changed.connect(
            domain_owners_changed, sender=Domain.owners.through, weak=False, dispatch_uid="domain_owner_permissions"
        )
