from typing import Any

from django.apps import AppConfig
from django.db.models.signals import m2m_changed


class CatalogConfig(AppConfig):
    name = "apps.catalog"

    def ready(self) -> None:
        from apps.catalog.models import DataProduct
        from apps.domains.ownership import sync_owner_permissions

        def product_owners_changed(sender: Any, **kwargs: Any) -> None:
            sync_owner_permissions(
                "catalog.manage_product", **{k: kwargs[k] for k in ("instance", "action", "model", "pk_set", "reverse")}
            )

        m2m_changed.connect(
            product_owners_changed,
            sender=DataProduct.owners.through,
            weak=False,
            dispatch_uid="product_owner_permissions",
        )
