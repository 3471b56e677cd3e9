"""A single sign-on session ends when the provider stops vouching for the person."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from apps.accounts.oidc import BACKEND_PATH, oidc_enabled, session_still_vouched_for
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

logger = logging.getLogger(__name__)
_RETRY_UNREACHABLE_SECONDS = 60


class OIDCSessionRecheckMiddleware:
    """Every ``PORTAL_OIDC_RECHECK_SECONDS`` (0: on every request), a single sign-on session asks the
    provider whether it still vouches for the person: by introspecting the session's access token when
    ``OIDC_OP_INTROSPECTION_ENDPOINT`` is set, else (or when that token is no longer active) by
    refreshing its tokens. A refusal (the account was disabled there, or signed out) logs the person
    out before this request is served; an unreachable provider is asked again a minute later.

    (Deactivation in the portal needs no help: the session's backend no longer returns an inactive
    user, and DRF's token and bearer authentication refuse one.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            oidc_enabled()
            and request.session.get(BACKEND_SESSION_KEY) == BACKEND_PATH
            and time.time() >= request.session.get("oidc_recheck_at", 0)
            and request.user.is_authenticated
        ):
            self._recheck(request)
        return self.get_response(request)

    def _recheck(self, request: HttpRequest) -> None:
        vouched = session_still_vouched_for(request.session)
        if vouched is False:
            user = request.user
            with transaction.atomic():
                audit_record(
                    actor=user, action="auth.oidc.revoked", outcome=AuditEvent.Outcome.REFUSED,
                    request_id=getattr(request, "request_id", ""),
                    details={"reason": "the provider no longer vouches for this session"},
                )
            auth.logout(request)
            request.user = AnonymousUser()
            return
        if vouched is None and request.session.get("oidc_refresh_token"):
            logger.warning("identity provider unreachable: single sign-on session not rechecked")
            request.session["oidc_recheck_at"] = time.time() + _RETRY_UNREACHABLE_SECONDS
            return
        request.session["oidc_recheck_at"] = time.time() + settings.PORTAL_OIDC_RECHECK_SECONDS
