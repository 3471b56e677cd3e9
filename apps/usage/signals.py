"""Logins and failed logins, from Django's signals: the password login form, the admin and the
OpenID Connect login all send them, so each leaves exactly one audit row here."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

# The token API authenticates with a password too, and records its own "auth.token" row (success
# or denial): a failure there is not recorded a second time.
_RECORDS_ITS_OWN = {"api-token"}


def _url_name(request: Any) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.url_name or "") if match is not None else ""


def _over_http(request: Any) -> bool:
    """A login that came through the portal's middleware (every real one does). The test client's
    ``force_login`` builds a bare request outside the HTTP stack: no user acted, nothing to record."""
    return request is not None and hasattr(request, "request_id")


@receiver(user_logged_in, dispatch_uid="usage_audit_login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if not _over_http(request):
        return
    audit_record(
        actor=user, action="auth.login", obj=user, request_id=getattr(request, "request_id", "") if request else "",
        details={"backend": str(getattr(user, "backend", ""))[:200]},
    )  # fmt: skip


@receiver(user_login_failed, dispatch_uid="usage_audit_login_failed")
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    if request is not None and _url_name(request) in _RECORDS_ITS_OWN:
        return
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        actor=None, action="auth.login_failed", outcome=AuditEvent.Outcome.DENIED,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        object_repr=username, details={"username": username},
    )  # fmt: skip
