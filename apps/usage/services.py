from typing import Any

from django.db import models

from apps.accounts.models import User
from apps.usage.models import AuditEvent


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    request_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row. Call it inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        outcome=outcome,
        request_id=request_id,
        details=details or {},
    )
