"""Single sign-on with OpenID Connect, on top of mozilla-django-oidc.

The library leaves the issuer and the audience of ID tokens unchecked, finds users by email and keeps
an inactive user's session alive. Here every token (the ID token at log-in, a bearer token on the API)
goes through :func:`verify_jwt`: RS256 only, the key from the provider's JWKS, ``iss`` equal to the
configured issuer, ``aud`` naming this portal, ``exp`` in the future, and the nonce of this browser's
log-in. People are found by ``(iss, sub)``; their portal groups follow a claim of the provider.
"""

import hashlib
import threading
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.core.cache import cache
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from apps.accounts.models import User

BACKEND_PATH = "apps.accounts.oidc.PortalOIDCBackend"
_JWKS_REFRESH_AT_MOST_EVERY_SECONDS = 10
_JWKS_MAX_AGE_SECONDS = 300


class OIDCRefused(Exception):
    """A token or a sign-in response the portal does not accept. ``reason`` goes into the audit
    action (``auth.oidc.<reason>``); ``message`` is shown to the person."""

    def __init__(self, reason: str, message: str, *, subject: str = "", user: User | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.subject = subject
        self.user = user


def oidc_enabled() -> bool:
    return bool(getattr(settings, "PORTAL_OIDC_ENABLED", False))


# --- Keys -------------------------------------------------------------------------------------------

_jwks_lock = threading.Lock()
_jwks_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _fetch_jwks(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
    response.raise_for_status()
    keys = response.json().get("keys", [])
    return {key["kid"]: key for key in keys if isinstance(key, dict) and key.get("kid")}


def _signing_key(kid: Any) -> jwt.PyJWK:
    """The provider's public key with this ``kid``, from its JWKS (cached; fetched again when a new
    key id shows up, as after a key rotation, but at most every few seconds)."""
    if not isinstance(kid, str) or not kid:
        raise OIDCRefused("key", "The token names no signing key.")
    url = settings.OIDC_OP_JWKS_ENDPOINT
    with _jwks_lock:
        fetched_at, keys = _jwks_cache.get(url, (0.0, {}))
        age = time.monotonic() - fetched_at
        if age > _JWKS_MAX_AGE_SECONDS or (kid not in keys and age > _JWKS_REFRESH_AT_MOST_EVERY_SECONDS):
            try:
                keys = _fetch_jwks(url)
            except (requests.RequestException, ValueError) as exc:
                raise OIDCRefused("provider_unavailable", "The identity provider's keys could not be fetched.") from exc
            _jwks_cache[url] = (time.monotonic(), keys)
    key = keys.get(kid)
    if key is None:
        raise OIDCRefused("key", "The token is signed with a key the identity provider does not publish.")
    if key.get("alg") not in (None, settings.OIDC_RP_SIGN_ALGO):
        raise OIDCRefused("algorithm", "The token's key is not meant for this signing algorithm.")
    try:
        return jwt.PyJWK(key, algorithm=settings.OIDC_RP_SIGN_ALGO)
    except jwt.PyJWTError as exc:
        raise OIDCRefused("key", "The identity provider publishes a key the portal cannot use.") from exc


def jwks_cache_clear() -> None:
    with _jwks_lock:
        _jwks_cache.clear()


# --- Tokens -----------------------------------------------------------------------------------------

def verify_jwt(
    token: str, *, audience: list[str], nonce: str | None = None, check_nonce: bool = False
) -> dict[str, Any]:
    """The claims of a token the portal's identity provider signed for ``audience``, or OIDCRefused."""
    algorithm = settings.OIDC_RP_SIGN_ALGO
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OIDCRefused("malformed", "The token is not a well-formed JSON Web Token.") from exc
    if header.get("alg") != algorithm:
        raise OIDCRefused("algorithm", f"The token is not signed with {algorithm}, the only algorithm accepted.")
    key = _signing_key(header.get("kid"))
    try:
        claims = jwt.decode(
            token, key=key, algorithms=[algorithm], audience=audience, issuer=settings.OIDC_OP_ISSUER,
            leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "aud", "sub", "exp", "iat"], "verify_signature": True},
        )
    except jwt.InvalidSignatureError as exc:
        raise OIDCRefused("signature", "The token's signature does not verify.") from exc
    except jwt.ExpiredSignatureError as exc:
        raise OIDCRefused("expired", "The token has expired.") from exc
    except jwt.InvalidIssuerError as exc:
        raise OIDCRefused("issuer", "The token was issued by another issuer than the configured one.") from exc
    except jwt.InvalidAudienceError as exc:
        raise OIDCRefused("audience", "The token was not issued for this portal (audience).") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise OIDCRefused("claims", f"The token lacks the required claim {exc.claim}.") from exc
    except jwt.PyJWTError as exc:
        raise OIDCRefused("invalid", "The token is not valid.") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise OIDCRefused("claims", "The token's subject (sub) is missing or malformed.")
    if check_nonce and (not nonce or claims.get("nonce") != nonce):
        raise OIDCRefused(
            "nonce", "The token does not answer the log-in started in this browser (nonce).", subject=subject
        )
    return claims


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested claims (Keycloak's ``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --- The authentication backend ---------------------------------------------------------------------

class PortalOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow (state, nonce, PKCE), with the checks it leaves out."""

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise OIDCRefused("claims", "The identity provider sent no ID token.")
        claims = verify_jwt(
            token, audience=[self.OIDC_RP_CLIENT_ID], nonce=kwargs.get("nonce"),
            check_nonce="nonce" in kwargs and self.get_settings("OIDC_USE_NONCE", True),
        )
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise OIDCRefused("audience", "The ID token was issued to another client (azp).", subject=claims["sub"])
        return claims

    def authenticate(self, request: Any, **kwargs: Any) -> User | None:
        if not oidc_enabled() or not kwargs.get("nonce"):
            return None  # only the portal's callback view signs in here, with this browser's nonce
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            raise OIDCRefused(
                "provider_unavailable", "The identity provider could not be reached or refused the code."
            ) from exc

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any] | None) -> User:
        from apps.accounts.services import oidc_user_sync

        if payload is None:  # the library's DRF class passes no ID token; the portal uses its own
            raise OIDCRefused("claims", "A sign-in needs an ID token.")
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if not isinstance(userinfo, dict) or userinfo.get("sub") != payload["sub"]:
                raise OIDCRefused(
                    "userinfo", "The identity provider's user info is about someone else.", subject=payload["sub"]
                )
            protected = {"iss", "aud", "exp", "iat", "nonce", "azp", "sub"}
            claims.update({key: value for key, value in userinfo.items() if key not in protected})
        return oidc_user_sync(issuer=payload["iss"], claims=claims)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        token_info = super().get_token(payload)
        self._refresh_token = token_info.get("refresh_token")
        return token_info

    def store_tokens(self, access_token: str, id_token: str) -> None:
        super().store_tokens(access_token, id_token)
        # Kept (server side) to ask the provider, now and then, whether it still vouches for the person:
        # the access token by introspection (when configured), the refresh token by refreshing.
        self.request.session["oidc_access_token"] = access_token
        self.request.session["oidc_refresh_token"] = getattr(self, "_refresh_token", None)
        self.request.session["oidc_recheck_at"] = time.time() + settings.PORTAL_OIDC_RECHECK_SECONDS

    def get_user(self, user_id: Any) -> User | None:
        # The library's version returns inactive users too, which keeps a deactivated person logged in.
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def provider_logout_url(request: Any) -> str:
    """Where log-out goes: the provider's end-session endpoint for a single sign-on session (so the
    provider forgets it too), else the portal's log-in page."""
    after = resolve_url(settings.LOGOUT_REDIRECT_URL)
    endpoint = getattr(settings, "OIDC_OP_LOGOUT_ENDPOINT", "")
    if not endpoint or request.session.get(BACKEND_SESSION_KEY) != BACKEND_PATH:
        return after
    params = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": request.build_absolute_uri(after)}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"


# --- Asking the provider whether it still vouches for a token ---------------------------------------

def _client_credentials(data: dict[str, str]) -> tuple[dict[str, str], Any]:
    """The portal authenticates to the provider's token and introspection endpoints as its client."""
    data = {**data, "client_id": settings.OIDC_RP_CLIENT_ID}
    if settings.OIDC_TOKEN_USE_BASIC_AUTH:
        return data, requests.auth.HTTPBasicAuth(settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET)
    return {**data, "client_secret": settings.OIDC_RP_CLIENT_SECRET}, None


def introspection_enabled() -> bool:
    return oidc_enabled() and bool(getattr(settings, "OIDC_OP_INTROSPECTION_ENDPOINT", ""))


def _introspect(token: str) -> dict[str, Any] | None:
    """The provider's RFC 7662 answer about an access token, or None when it cannot be asked."""
    data, auth = _client_credentials({"token": token, "token_type_hint": "access_token"})
    try:
        response = requests.post(
            settings.OIDC_OP_INTROSPECTION_ENDPOINT, data=data, auth=auth, timeout=settings.OIDC_TIMEOUT,
            verify=settings.OIDC_VERIFY_SSL, headers={"Accept": "application/json"},
        )
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
        return None
    return answer


def access_token_active(token: str, *, subject: str | None = None, cache_seconds: int = 0) -> bool | None:
    """Whether the provider says this access token is still active (RFC 7662): True, False (revoked,
    expired, its person disabled, or about another ``sub``), or None when the provider cannot be asked.
    Only positive answers are cached, for at most ``cache_seconds`` and never past the token's ``exp``."""
    key = "oidc-introspection:" + hashlib.sha256(token.encode()).hexdigest()
    if cache_seconds > 0 and cache.get(key) is True:
        return True
    answer = _introspect(token)
    if answer is None:
        return None
    active = answer["active"] is True and (subject is None or answer.get("sub") in (None, subject))
    if active and cache_seconds > 0:
        timeout = cache_seconds
        if isinstance(answer.get("exp"), int):
            timeout = min(timeout, answer["exp"] - int(time.time()))
        if timeout > 0:
            cache.set(key, True, timeout)
    return active


def _session_refreshed(session: Any) -> bool | None:
    refresh_token = session.get("oidc_refresh_token")
    if not refresh_token:
        return None
    data, auth = _client_credentials({"grant_type": "refresh_token", "refresh_token": refresh_token})
    try:
        response = requests.post(
            settings.OIDC_OP_TOKEN_ENDPOINT, data=data, auth=auth, timeout=settings.OIDC_TIMEOUT,
            verify=settings.OIDC_VERIFY_SSL,
        )
    except requests.RequestException:
        return None
    if response.status_code in (400, 401):
        return False
    if response.status_code != 200:
        return None
    try:
        tokens = response.json()
    except ValueError:
        return None
    if not isinstance(tokens, dict):
        return None
    session["oidc_refresh_token"] = tokens.get("refresh_token") or refresh_token  # providers rotate them
    if tokens.get("access_token"):
        session["oidc_access_token"] = tokens["access_token"]
    if tokens.get("id_token"):
        session["oidc_id_token"] = tokens["id_token"]
    return True


def session_still_vouched_for(session: Any) -> bool | None:
    """Whether the provider still vouches for this single sign-on session: True, False when it refuses
    (the person was disabled or signed out there), None when it cannot be asked (no refresh token was
    issued, or the provider is unreachable).

    With introspection configured, the session's access token is introspected (one request, nothing
    rotated); when it is no longer active (it may merely have expired) the refresh token decides, and
    the new access token is kept. Without introspection, the refresh token decides every time."""
    access_token = session.get("oidc_access_token")
    if introspection_enabled() and access_token and access_token_active(access_token) is True:
        return True
    return _session_refreshed(session)
