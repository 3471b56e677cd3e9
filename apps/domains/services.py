"""Registering, changing, checking and removing a domain's backends.

A connection is tested before anything is saved, outside any database transaction (a slow
backend must not hold one open). Passwords live only in ``Backend.encrypted_password``: one
given inside a URL is moved there, and no password ever appears in an answer, a log line, an
audit row or an error message.
"""

import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from sqlalchemy.engine import URL

from apps.accounts.models import User
from apps.core.errors import ApplicationError, BackendUnavailable
from apps.domains.connectors import connector_for, file_path, parse_url
from apps.domains.crypto import encrypt_password
from apps.domains.models import Backend, Domain
from apps.domains.permissions import ensure_can_edit
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_FILE_KINDS = (Backend.Kind.SQLITE, Backend.Kind.DUCKDB, Backend.Kind.DUCKDB_FOLDER)
_POSTGRES_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
_RESERVED_SLUGS = {"new"}  # a page's URL segment
MAX_PASSWORD_LENGTH = 1000


def _without_password(url: URL) -> tuple[str, str]:
    """The URL as text without its password (in the userinfo or the query), and the password."""
    password = url.password or ""
    query_password = url.query.get("password", "")
    password = password or str(query_password if isinstance(query_password, str) else query_password[0])
    # ``URL.set(password=None)`` would keep the password: None means "unchanged" there.
    cleaned = url._replace(password=None).difference_update_query(["password"])
    return cleaned.render_as_string(hide_password=False), password


def _file_location(kind: str, url: str) -> Path | None:
    return file_path(kind, url).resolve() if kind in _FILE_KINDS else None


def _check_file_location(domain: Domain, kind: str, url: str, exclude_pk: int | None) -> None:
    """A file has no password: only its path keeps one domain from registering another's data."""
    location = _file_location(kind, url)
    if location is None:
        return
    roots = [Path(r).resolve() for r in getattr(settings, "PORTAL_BACKEND_FILE_ROOTS", []) or []]
    if roots and not any(location == root or root in location.parents for root in roots):
        raise ApplicationError("This path is outside the folders backends may be registered from.", field="url")
    for other in Backend.objects.exclude(domain=domain).exclude(pk=exclude_pk):
        try:
            other_location = _file_location(other.kind, other.url)
        except BackendUnavailable:
            continue
        if other_location is not None and (
            other_location == location or other_location in location.parents or location in other_location.parents
        ):
            raise ApplicationError("This path belongs to a backend of another domain.", field="url")


def _normalize(kind: str, url: str, password: str) -> tuple[str, str]:
    """(url to store, password to encrypt) after checking the shape fits the kind."""
    url = (url or "").strip()
    if not url:
        raise ApplicationError("Enter a URL or a path.", field="url")
    if len(url) > 1000:
        raise ApplicationError("The URL or path is too long (at most 1000 characters).", field="url")
    if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password or "\x00" in url:
        raise ApplicationError("The URL or password holds characters that are not allowed.", field="url")
    if kind in _FILE_KINDS:
        path = file_path(kind, url)
        if not path.is_absolute():
            raise ApplicationError("Give an absolute path (starting with /).", field="url")
        return str(path), password
    parsed = parse_url(url)
    if kind == Backend.Kind.POSTGRESQL and parsed.drivername not in _POSTGRES_DRIVERS:
        raise BackendUnavailable(
            "A PostgreSQL backend needs a postgresql:// URL, e.g. postgresql://reader@db.example.org/hr.", field="url"
        )
    if kind == Backend.Kind.POSTGRESQL and not parsed.database:
        raise BackendUnavailable("The PostgreSQL URL names no database.", field="url")
    if kind == Backend.Kind.SQLALCHEMY and parsed.get_backend_name() in ("sqlite", "duckdb"):
        raise ApplicationError(
            f"Register a {parsed.get_backend_name()} file with its own kind: it is then opened read-only.", field="url"
        )
    stored, url_password = _without_password(parsed)
    return stored, password or url_password


def _test_connection(kind: str, url: str, password: str) -> None:
    with connector_for(Backend(kind=kind, url=url), password=password) as connector:
        connector.check()


def _refused(actor: User, action: str, domain: Domain, exc: ApplicationError, slug: str) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            obj=domain,
            outcome=AuditEvent.Outcome.REFUSED,
            details={"backend": slug, "reason": exc.message},
        )


def backend_register(*, actor: User, domain: Domain, slug: str, kind: str, url: str, password: str = "") -> Backend:
    """Register a backend after a successful test connection; raises ``BackendUnavailable`` if it fails."""
    ensure_can_edit(actor, domain)
    slug = (slug or "").strip()
    if not _SLUG.match(slug) or slug in _RESERVED_SLUGS:
        raise ApplicationError(
            'The slug must be lower-case letters, digits, - or _ (at most 63), and not "new".', field="slug"
        )
    if kind not in Backend.Kind.values:
        raise ApplicationError(f"The kind must be one of: {', '.join(Backend.Kind.values)}.", field="kind")
    if Backend.objects.filter(domain=domain, slug=slug).exists():
        raise ApplicationError(f"This domain already has a backend named {slug}.", field="slug")
    try:
        stored_url, password = _normalize(kind, url, password or "")
        _check_file_location(domain, kind, stored_url, exclude_pk=None)
        _test_connection(kind, stored_url, password)
    except ApplicationError as exc:
        _refused(actor, "backend.register", domain, exc, slug)
        raise
    try:
        with transaction.atomic():
            backend = Backend.objects.create(
                domain=domain, slug=slug, kind=kind, url=stored_url, encrypted_password=encrypt_password(password),
                health=Backend.Health.OK, health_checked_at=timezone.now(),
            )  # fmt: skip
            audit_record(actor=actor, action="backend.register", obj=backend, details={"kind": kind})
    except IntegrityError:
        raise ApplicationError(f"This domain already has a backend named {slug}.", field="slug") from None
    return backend


def backend_update(
    *, actor: User, backend: Backend, url: str | None = None, password: str | None = None, clear_password: bool = False
) -> Backend:
    """Change where a backend is or its password (``None``: keep it); tested before it is saved.

    The kind and the slug never change: the slug is part of every dataset address of the backend.
    """
    ensure_can_edit(actor, backend)
    changes: dict[str, Any] = {}
    try:
        stored_url, new_password = _normalize(backend.kind, backend.url if url is None else url, password or "")
        url_changed = stored_url != backend.url
        if url_changed:
            _check_file_location(backend.domain, backend.kind, stored_url, exclude_pk=backend.pk)
        if new_password or clear_password:
            changes["encrypted_password"] = encrypt_password(new_password)
        if url_changed:
            changes["url"] = stored_url
        if changes:
            test_password = new_password if (new_password or clear_password) else None
            candidate = Backend(kind=backend.kind, url=stored_url, encrypted_password=backend.encrypted_password)
            with connector_for(candidate, password=test_password) as connector:
                connector.check()
    except ApplicationError as exc:
        _refused(actor, "backend.update", backend.domain, exc, backend.slug)
        raise
    if not changes:
        return backend
    with transaction.atomic():
        for name, value in changes.items():
            setattr(backend, name, value)
        backend.health, backend.health_message, backend.health_checked_at = Backend.Health.OK, "", timezone.now()
        backend.save()
        fields = ["password" if name == "encrypted_password" else name for name in changes]
        audit_record(actor=actor, action="backend.update", obj=backend, details={"fields": sorted(fields)})
    return backend


def backend_check(*, actor: User, backend: Backend) -> Backend:
    """Test the connection and record the backend's health. An unreachable backend is recorded, not raised."""
    ensure_can_edit(actor, backend)
    try:
        with connector_for(backend) as connector:
            connector.check()
    except BackendUnavailable as exc:
        health, message = Backend.Health.ERROR, exc.message
    else:
        health, message = Backend.Health.OK, ""
    with transaction.atomic():
        backend.health, backend.health_message, backend.health_checked_at = health, message[:500], timezone.now()
        backend.save(update_fields=["health", "health_message", "health_checked_at"])
        audit_record(actor=actor, action="backend.check", obj=backend, details={"health": health})
    return backend


def backend_delete(*, actor: User, backend: Backend) -> None:
    """Remove a backend. Its datasets stay in the catalog, with what people wrote, marked removed."""
    ensure_can_edit(actor, backend)
    with transaction.atomic():
        audit_record(actor=actor, action="backend.delete", obj=backend, details={"kind": backend.kind})
        backend.datasets.filter(removed_at__isnull=True).update(removed_at=timezone.now())
        backend.delete()
