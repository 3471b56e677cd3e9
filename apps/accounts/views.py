"""Log-in (password and single sign-on), the sign-on callback and log-out."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from apps.accounts.oidc import BACKEND_PATH, OIDCRefused, PortalOIDCBackend, oidc_enabled, provider_logout_url
from apps.accounts.services import (
    client_address,
    login_attempt_start,
    login_failures_clear,
    login_refusal_message,
)
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's log-in form, refusing a username that failed too often from the same address. The
    attempt is recorded before the password is checked (see ``login_attempt_start``)."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        address = client_address(self.request)
        if username and password and not login_attempt_start(username=username, address=address):
            audit_record(
                actor=None, action="auth.login.throttled", outcome=AuditEvent.Outcome.REFUSED,
                request_id=getattr(self.request, "request_id", ""), details={"username": username[:150]},
            )
            raise ValidationError(login_refusal_message(), code="throttled")
        cleaned = super().clean()  # a wrong password stays counted as the failure recorded above
        if self.get_user() is not None:  # never on a post without a password: that proves nothing
            login_failures_clear(username=username, address=address)
        return cleaned


def _login_context() -> dict[str, Any]:
    return {
        "sso_enabled": oidc_enabled(),
        "sso_label": settings.PORTAL_OIDC_PROVIDER_NAME,
        "local_login_enabled": settings.PORTAL_LOCAL_LOGIN,
    }


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = False

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), **_login_context()}

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.PORTAL_LOCAL_LOGIN:
            audit_record(
                actor=None, action="auth.login.local_disabled", outcome=AuditEvent.Outcome.REFUSED,
                request_id=getattr(request, "request_id", ""),
                details={"username": str(request.POST.get("username", ""))[:150]},
            )
            context = {**_login_context(), "form": None,
                       "sso_error": "Log-in with a password is switched off here: use single sign-on."}
            return render(request, "registration/login.html", context, status=403)
        return super().post(request, *args, **kwargs)


def _refusal(request: HttpRequest, exc: OIDCRefused, *, status: int = 403) -> HttpResponse:
    """One audit row (``auth.oidc.<reason>``) and the log-in page naming the problem."""
    with transaction.atomic():
        audit_record(
            actor=exc.user, action=f"auth.oidc.{exc.reason}"[:80], outcome=AuditEvent.Outcome.REFUSED,
            request_id=getattr(request, "request_id", ""), details={"reason": exc.reason, "subject": exc.subject},
        )
    form = AuthenticationForm(request) if settings.PORTAL_LOCAL_LOGIN else None
    context = {**_login_context(), "form": form, "sso_error": f"Single sign-on refused: {exc.message}"}
    return render(request, "registration/login.html", context, status=status)


class SSOStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider with a fresh state, nonce and PKCE challenge."""

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        self.OIDC_OP_AUTH_ENDPOINT = settings.OIDC_OP_AUTHORIZATION_ENDPOINT
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class SSOCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer: the state must be one this browser's session started (and is used up),
    the code is exchanged with the PKCE verifier, and the ID token checked with the nonce."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        states = request.session.get("oidc_states")
        states = states if isinstance(states, dict) else {}
        state = request.GET.get("state", "")
        entry = states.pop(state, None) if isinstance(state, str) else None
        request.session["oidc_states"] = states  # a state is used once, whatever happens next
        if request.GET.get("error"):
            # Only an answer to a sign-in this browser started ends its session: a forged link
            # (an <img> on any site) must not log people out.
            if isinstance(entry, dict) and request.user.is_authenticated:
                auth.logout(request)
            return _refusal(request, OIDCRefused("provider_error", "the identity provider did not sign you in."))
        if not request.GET.get("code") or not state:
            return _refusal(request, OIDCRefused("callback", "the answer lacks its code or state."), status=400)
        if not isinstance(entry, dict) or "nonce" not in entry:
            return _refusal(request, OIDCRefused(
                "state", "this answer does not belong to a sign-in started in this browser, or was already used. "
                "Start again."))
        request.session.save()
        backend = PortalOIDCBackend()
        try:
            user = backend.authenticate(request, nonce=entry["nonce"], code_verifier=entry.get("code_verifier"))
        except OIDCRefused as exc:
            return _refusal(request, exc)
        if user is None:
            return _refusal(request, OIDCRefused("failed", "the sign-in could not be completed."))
        user.backend = BACKEND_PATH
        self.user = user
        return self.login_success()


class LogoutView(View):
    """Logs out of the portal and, for a single sign-on session, at the provider too."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        authenticated = request.user.is_authenticated
        target = provider_logout_url(request) if authenticated else resolve_url(settings.LOGOUT_REDIRECT_URL)
        auth.logout(request)
        return HttpResponseRedirect(target)


class AdminLoginRedirect(View):
    """The admin site logs in through the portal's log-in page (throttled, and off when local log-in is)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        target = resolve_url(settings.LOGIN_URL)
        next_url = request.GET.get("next", "")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': next_url})}" if next_url else target)

    post = get
