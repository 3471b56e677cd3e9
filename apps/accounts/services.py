"""Accounts: people from the identity provider, and the guard on password log-ins."""

import hashlib
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import LoginFailure, OIDCIdentity, User
from apps.accounts.oidc import OIDCRefused, claim_at
from apps.usage.services import audit_record

_USERNAME = re.compile(r"^[\w.@+-]{1,120}$")


def _username_for(*, issuer: str, claims: dict[str, Any]) -> str:
    """The provider's preferred username when it is free; else that name (or ``user``) with a
    suffix derived from ``iss`` and ``sub``. Never an existing account: nobody takes over a local
    user by choosing a username or an email at the provider."""
    wanted = claims.get("preferred_username")
    if not isinstance(wanted, str) or not _USERNAME.match(wanted):
        wanted = "user"
    if wanted != "user" and not User.objects.filter(username__iexact=wanted).exists():
        return wanted
    digest = hashlib.sha256(f"{issuer} {claims['sub']}".encode()).hexdigest()
    for length in (8, 16, 64):
        candidate = f"{wanted}-{digest[:length]}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    raise OIDCRefused("username", "No free username could be made for this person.", subject=claims["sub"])


def _claimed_groups(claims: dict[str, Any]) -> set[str]:
    raw = claim_at(claims, settings.OIDC_GROUPS_CLAIM)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return set()
    return {value for value in raw if isinstance(value, str) and 0 < len(value) <= 150}


def _portal_groups(claimed: set[str]) -> set[str]:
    mapping: dict[str, str] = settings.OIDC_GROUP_MAP
    if mapping:
        return {mapping[value] for value in claimed if value in mapping}
    return claimed


def _text(claims: dict[str, Any], name: str, limit: int) -> str | None:
    value = claims.get(name)
    return value[:limit] if isinstance(value, str) else None


@transaction.atomic
def oidc_user_sync(*, issuer: str, claims: dict[str, Any]) -> User:
    """The portal user behind ``(iss, sub)``, created on first sign-in, with the profile, groups
    and roles the provider's claims give. Refuses inactive users."""
    subject = claims["sub"]
    identity = (
        OIDCIdentity.objects.select_for_update().select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    if identity is None:
        if not settings.OIDC_CREATE_USER:
            raise OIDCRefused("unknown_user", "This person has no portal account, and accounts are not created "
                              "on first sign-in here.", subject=subject)
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=_username_for(issuer=issuer, claims=claims))
                identity = OIDCIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        except IntegrityError:  # the same person signing in twice at once: the other request created it
            identity = OIDCIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
            if identity is None:
                raise OIDCRefused("username", "The account could not be created; try again.", subject=subject) from None
        else:
            audit_record(
                actor=user, action="auth.oidc.user_create", obj=user, details={"issuer": issuer, "subject": subject}
            )
    user = identity.user
    if not user.is_active:
        raise OIDCRefused("inactive", "This portal account is deactivated.", subject=subject, user=user)

    profile = {
        "email": _text(claims, "email", 254),
        "first_name": _text(claims, "given_name", 150),
        "last_name": _text(claims, "family_name", 150),
        "display_name": _text(claims, "name", 150),
    }
    for field, value in profile.items():
        if value is not None:
            setattr(user, field, value)

    claimed = _claimed_groups(claims)
    wanted = _portal_groups(claimed)
    before = set(identity.groups)
    current = set(user.groups.values_list("name", flat=True))
    removed = sorted((before - wanted) & current)
    added = sorted(wanted - current)
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    if added:
        user.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in added])

    roles_before = (user.is_staff, user.is_superuser)
    if settings.OIDC_SUPERUSER_GROUPS:
        user.is_superuser = bool(claimed & set(settings.OIDC_SUPERUSER_GROUPS))
    if settings.OIDC_STAFF_GROUPS or settings.OIDC_SUPERUSER_GROUPS:
        user.is_staff = user.is_superuser or bool(claimed & set(settings.OIDC_STAFF_GROUPS))
    user.save()

    identity.groups = sorted(wanted)
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["groups", "last_login_at"])
    if added or removed or roles_before != (user.is_staff, user.is_superuser):
        audit_record(
            actor=user, action="auth.oidc.groups", obj=user,
            details={"added": added, "removed": removed, "is_staff": user.is_staff, "is_superuser": user.is_superuser},
        )
    return user


# --- Guessing passwords -----------------------------------------------------------------------------
#
# Every password attempt is recorded *before* the password is checked, under a lock per username and
# address, and counted as a failure until it succeeds (success clears the username's failures from that
# address). So parallel guesses cannot all pass a check made before any of them was recorded: at most
# PORTAL_LOGIN_MAX_FAILURES attempts per window ever reach the password check.

def _key(username: str) -> str:
    return username.lower()[:150]


def _recent_failures(*, username: str, address: str | None) -> Any:
    since = timezone.now() - timedelta(seconds=settings.PORTAL_LOGIN_FAILURE_WINDOW_SECONDS)
    return LoginFailure.objects.filter(username=_key(username), address=address, occurred_at__gte=since)


def _attempts_lock(*, username: str, address: str | None) -> None:
    """Serialise the attempts on one username from one address until the transaction ends. PostgreSQL:
    a transaction-level advisory lock on a hash of both. SQLite needs none: the insert that follows
    takes the database's single write lock, which already serialises writers until commit."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"login {_key(username)} {address or ''}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


def login_attempt_start(*, username: str, address: str | None) -> bool:
    """Record one password attempt (as a failure until ``login_failures_clear``), or refuse it: False when
    the username already used up its attempts from this address within the window. Call it before
    checking the password, outside any longer transaction (the lock is held until this one commits)."""
    cutoff = timezone.now() - timedelta(seconds=settings.PORTAL_LOGIN_FAILURE_WINDOW_SECONDS)
    LoginFailure.objects.filter(occurred_at__lt=cutoff).delete()
    with transaction.atomic():
        _attempts_lock(username=username, address=address)
        attempt = LoginFailure.objects.create(username=_key(username), address=address)
        if _recent_failures(username=username, address=address).count() > settings.PORTAL_LOGIN_MAX_FAILURES:
            attempt.delete()
            return False
    return True


def login_failures_clear(*, username: str, address: str | None) -> None:
    """A successful log-in: forget the failures (and the attempt just made) of this username and address."""
    LoginFailure.objects.filter(username=_key(username), address=address).delete()


def login_refusal_message() -> str:
    minutes = max(1, settings.PORTAL_LOGIN_FAILURE_WINDOW_SECONDS // 60)
    return (f"Too many failed log-ins for this username from your address. Log-in is refused for up to "
            f"{minutes} minutes; try again later.")


def client_address(request: Any) -> str | None:
    address = request.META.get("REMOTE_ADDR") or None
    return address if address is None or len(address) <= 45 else None
