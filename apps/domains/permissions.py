"""The one permission check used by pages, the API and tasks alike.

Edit rights are django-guardian object permissions (``domains.manage_domain``,
``catalog.manage_product``), kept in step with the owners named on domains and products by
``apps.domains.ownership``.

Who sees what: admins see everything; a domain's owners and its products' owners see it; other
active users see a domain when it names no group, or one of theirs. Who edits what: admins, the
domain's owners, and a product's owners for that product and its datasets. An object a user may
not see is reported as missing (404), never as forbidden.
"""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.models import User
from apps.core.errors import Forbidden
from apps.domains.models import Domain


def _is_active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def visible_domains(user: Any) -> QuerySet[Domain]:
    if not _is_active(user):
        return Domain.objects.none()
    if user.is_superuser:
        return Domain.objects.all()
    rule = (
        Q(visible_to_groups__isnull=True)
        | Q(visible_to_groups__in=user.groups.all())
        | Q(owners=user)
        | Q(products__owners=user)
    )
    return Domain.objects.filter(pk__in=Domain.objects.filter(rule).values("pk"))


def domain_of(obj: Any) -> Domain:
    if isinstance(obj, Domain):
        return obj
    if hasattr(obj, "domain"):
        return obj.domain
    if hasattr(obj, "dataset"):
        return obj.dataset.domain
    raise TypeError(f"no domain for {type(obj).__name__}")


def _product_of(obj: Any) -> Any:
    if obj._meta.model_name == "dataproduct":
        return obj
    if obj._meta.model_name == "column":
        return obj.dataset.product
    return getattr(obj, "product", None)


def can_view(user: Any, obj: Any) -> bool:
    if not visible_domains(user).filter(pk=domain_of(obj).pk).exists():
        return False
    dataset = obj if obj._meta.model_name == "dataset" else getattr(obj, "dataset", None)
    if dataset is not None and getattr(dataset, "kind", "") == "synthetic":
        return can_read_synthetic(user, dataset)
    return True


def can_read_synthetic(user: Any, dataset: Any) -> bool:
    """A DP synthetic sample (``Dataset.kind == "synthetic"``) is seen by admins, the owners of its
    source, and users whose policy on the source gives access now (synthetic, DP or raw)."""
    source = dataset.derived_from
    if source is None:
        return bool(_is_active(user) and user.is_superuser)
    return can_read_samples_of(user, source)


def can_read_samples_of(user: Any, source: Any) -> bool:
    """Whether ``user`` may read DP synthetic samples made from the confidential dataset ``source``
    now: its owners and editors, admins, and users whose policy on it gives access and has not expired."""
    from django.utils import timezone

    from apps.privacy.policies import policy_for

    if can_manage_policies(user, source) or can_edit(user, source):
        return True
    if not visible_domains(user).filter(pk=source.domain_id).exists():
        return False
    policy = policy_for(user=user, dataset=source)
    return bool(
        policy is not None
        and policy.access_mode in ("synthetic", "dp", "raw")
        and (policy.expires_at is None or policy.expires_at > timezone.now())
    )


def hidden_synthetic_ids(user: Any, datasets: QuerySet) -> list[int]:
    """Of ``datasets``, the synthetic samples ``user`` may not read (see ``can_read_synthetic``)."""
    if _is_active(user) and user.is_superuser:
        return []
    samples = list(datasets.filter(kind="synthetic").select_related("derived_from__domain", "derived_from__product"))
    verdicts: dict[Any, bool] = {}
    hidden = []
    for sample in samples:
        if sample.derived_from_id not in verdicts:
            verdicts[sample.derived_from_id] = can_read_synthetic(user, sample)
        if not verdicts[sample.derived_from_id]:
            hidden.append(sample.pk)
    return hidden


def can_edit(user: Any, obj: Any) -> bool:
    if not _is_active(user):
        return False
    if user.is_superuser or user.has_perm("domains.manage_domain", domain_of(obj)):
        return True
    product = _product_of(obj)
    return product is not None and user.has_perm("catalog.manage_product", product)


def can_manage_policies(user: Any, obj: Any) -> bool:
    """Privacy policies and budgets belong to the domain: its owners and admins manage them."""
    return _is_active(user) and (user.is_superuser or user.has_perm("domains.manage_domain", domain_of(obj)))


def ensure_can_view(user: User, obj: Any) -> None:
    if not can_view(user, obj):
        raise Http404("Not found.")


def ensure_can_manage_policies(user: User, obj: Any) -> None:
    ensure_can_view(user, obj)
    if not can_manage_policies(user, obj):
        raise Forbidden("Only the owners of this domain and admins manage its privacy policies.")


def ensure_can_edit(user: User, obj: Any) -> None:
    """404 for what the user may not see, 403 for what they see but may not change."""
    ensure_can_view(user, obj)
    if not can_edit(user, obj):
        raise Forbidden("Only the owners of this domain or product and admins can change it.")
