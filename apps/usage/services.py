"""Writes of the usage app: audit rows (one per action) and the daily usage rollup.

This module sits low in the import order (accounts → usage → domains → catalog …): it never
imports another app's models at module level, and finds what a row is about by duck typing.
"""

from typing import Any

from django.db import models

from apps.accounts.models import User
from apps.usage.models import AuditEvent

# A refusal (4xx) is recorded once per request: the first row with a refused or denied outcome
# for a request id wins, whether a service wrote it or the handlers of apps.core did.
REFUSAL_OUTCOMES = (AuditEvent.Outcome.REFUSED, AuditEvent.Outcome.DENIED)


def _scope_of(obj: models.Model) -> tuple[int | None, int | None]:
    """(domain id, dataset id) of what an audit row is about, without extra queries where the
    object already holds them (a dataset, a job with its dataset, a policy, a harvest run …)."""
    name = obj._meta.model_name
    if name == "domain":
        return obj.pk, None
    if name == "dataset":
        return getattr(obj, "domain_id", None), obj.pk
    if getattr(obj, "dataset_id", None):
        return getattr(obj.dataset, "domain_id", None), obj.dataset_id  # type: ignore[attr-defined]
    for attr in ("product", "backend", "domain"):
        if getattr(obj, f"{attr}_id", None):
            related = getattr(obj, attr)
            return (related.pk if attr == "domain" else getattr(related, "domain_id", None)), None
    return None, None


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    request_id: str = "",
    details: dict[str, Any] | None = None,
    object_repr: str = "",
) -> AuditEvent:
    """Write one audit row. Call it inside the transaction of the change it records."""
    domain_id, dataset_id = _scope_of(obj) if obj is not None else (None, None)
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=(str(obj) if obj is not None else object_repr)[:300],
        outcome=outcome,
        request_id=request_id[:64],
        details=details or {},
        domain_id=domain_id,
        dataset_id=dataset_id,
    )


def refusal_already_recorded(request_id: str) -> bool:
    return bool(request_id) and AuditEvent.objects.filter(request_id=request_id, outcome__in=REFUSAL_OUTCOMES).exists()
