"""Response headers of the web security baseline that Django does not send itself.

- ``Content-Security-Policy`` from ``settings.PORTAL_CSP``: scripts and styles from the portal's own
  origin only (no inline script, no ``style="…"``, no eval). The origins of the OIDC provider's
  endpoints are added to ``form-action``, since logging in and out redirects a form there.
- ``Cache-Control: no-store`` (with ``private, no-cache, must-revalidate, max-age=0``) on every
  response the application renders: pages and API answers carry budgets, results and CSRF tokens, and
  the simplest rule that is sound is "nothing dynamic is ever cached". Static files are served by
  WhiteNoise before this middleware and keep their long-lived caching.
- ``Permissions-Policy`` switching off browser features the portal never uses.

HSTS, ``nosniff``, the referrer policy, COOP and the secure cookie flags come from Django's own
settings (the "Security" block of ``portal/settings.py``).
"""

from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
_FORBIDDEN_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'")


def _origin(url: object) -> str:
    if not isinstance(url, str) or not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def identity_provider_origins() -> list[str]:
    """Origins of the configured OIDC provider endpoints (``OIDC_OP_*``), for ``form-action``."""
    origins: list[str] = []
    for name in dir(settings):
        if name.startswith("OIDC_OP_") and name.endswith(("_ENDPOINT", "_URL")):
            origin = _origin(getattr(settings, name, ""))
            if origin and origin not in origins:
                origins.append(origin)
    return origins


def content_security_policy(directives: Mapping[str, Iterable[str]], *, form_action_extra: Iterable[str] = ()) -> str:
    """Serialise the directives; refuse the sources that would let an injected script or style run."""
    parts = []
    for directive, sources in directives.items():
        values = list(dict.fromkeys(sources))
        if directive == "form-action":
            values = list(dict.fromkeys([*values, *form_action_extra]))
        if directive in ("script-src", "style-src", "default-src") and any(s in _FORBIDDEN_SOURCES for s in values):
            raise ValueError(f"PORTAL_CSP: {directive} must not allow inline code or eval")
        parts.append(" ".join([directive, *values]) if values else directive)
    return "; ".join(parts)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        directives = getattr(settings, "PORTAL_CSP", None) or {}
        self.csp = content_security_policy(directives, form_action_extra=identity_provider_origins())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.csp and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.csp
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = PERMISSIONS_POLICY
        add_never_cache_headers(response)
        return response
