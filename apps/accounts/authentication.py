"""API authentication with bearer tokens from the portal's identity provider.

``Authorization: Bearer <access token>``: a JWT signed by the provider (RS256, key from its JWKS),
issued by the configured issuer, for this portal's audience (``OIDC_API_AUDIENCE``), not expired, not
an ID token, for a person who has signed in to the portal once and is active. With
``OIDC_OP_INTROSPECTION_ENDPOINT`` set, the provider is also asked (RFC 7662) whether the token is still
active, so a token of a person disabled there stops working at once (positive answers are cached for
``PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS`` at most); a provider that cannot be asked means a refusal.
Each refusal is audited.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.models import OIDCIdentity, User
from apps.accounts.oidc import OIDCRefused, access_token_active, introspection_enabled, oidc_enabled, verify_jwt
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record


def _refuse(request: Request, *, reason: str, message: str, user: User | None = None, subject: str = "") -> None:
    audit_record(
        actor=user, action="auth.oidc.bearer", outcome=AuditEvent.Outcome.REFUSED,
        request_id=getattr(request._request, "request_id", ""), details={"reason": reason, "subject": subject},
    )
    raise exceptions.AuthenticationFailed(message)


def _is_id_token(claims: dict[str, Any]) -> bool:
    """An ID token proves a log-in to the portal's client, it is no API credential: the portal's own
    ID tokens travel in log-out URLs (``id_token_hint``). ID tokens carry the log-in's ``nonce`` and no
    scope; access tokens carry ``scope`` or ``scp`` (Keycloak before 25 also puts the nonce in access
    tokens, and marks its ID tokens ``typ: ID``)."""
    if claims.get("typ") == "ID":
        return True
    return "nonce" in claims and "scope" not in claims and "scp" not in claims


class OIDCBearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, dict[str, Any]] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if not oidc_enabled():
            raise exceptions.AuthenticationFailed("Bearer tokens are not accepted: single sign-on is not configured.")
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send one token: Authorization: Bearer <token>.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The bearer token is not a well-formed JSON Web Token.") from None
        from django.conf import settings

        try:
            claims = verify_jwt(token, audience=settings.OIDC_API_AUDIENCE)
        except OIDCRefused as exc:
            _refuse(request, reason=exc.reason, message=exc.message, subject=exc.subject)
        if _is_id_token(claims):
            _refuse(request, reason="id_token", subject=claims["sub"],
                    message="This is an ID token: send an access token issued for the portal's API.")
        identity = (
            OIDCIdentity.objects.select_related("user").filter(issuer=claims["iss"], subject=claims["sub"]).first()
        )
        if identity is None:
            _refuse(request, reason="unknown_user", subject=claims["sub"],
                    message="This identity has no portal account yet: sign in to the portal once.")
        if not identity.user.is_active:
            _refuse(request, reason="inactive", subject=claims["sub"], user=identity.user,
                    message="User inactive or deleted.")
        if introspection_enabled():
            active = access_token_active(
                token, subject=claims["sub"], cache_seconds=settings.PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS
            )
            if active is None:
                _refuse(request, reason="provider_unavailable", subject=claims["sub"], user=identity.user,
                        message="The identity provider could not be asked whether this token is still active; "
                        "try again later.")
            if not active:
                _refuse(request, reason="revoked", subject=claims["sub"], user=identity.user,
                        message="The identity provider no longer vouches for this token: it was revoked, or "
                        "the account was disabled there.")
        return identity.user, claims

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class OIDCBearerScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the bearer tokens."""

    target_class = "apps.accounts.authentication.OIDCBearerAuthentication"
    name = "oidcBearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token from the portal's OpenID Connect provider, issued for this portal's "
            "audience (`OIDC_API_AUDIENCE`), to a person who has signed in to the portal once.",
        }
