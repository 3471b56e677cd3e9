"""Audit rows for reads and refusals, recorded by the interfaces (views, APIs, handlers).

- ``audited_dataset_access(action)`` decorates a page or API method that shows one dataset (its
  ``address`` URL argument): one ``success`` row when it answers, one ``denied`` row when the
  dataset is missing or invisible (the 404 the user gets says nothing more).
- ``audit_search(request, query=…, total=…)`` records one search.
- ``audit_refusal(request, exc, status)`` is called by the one refusal handler of pages
  (``apps.core.views.refusals_shown``) and of the API (``apps.core.api.exception_handler``), after
  the view's transaction has rolled back, so the row survives; a service that already recorded the
  refusal of this request (``query.refuse``) is not recorded twice.
"""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import DatabaseError, transaction
from django.http import Http404, HttpRequest

from apps.usage.models import AuditEvent
from apps.usage.services import audit_record, refusal_already_recorded

logger = logging.getLogger(__name__)


def _request_of(args: tuple[Any, ...]) -> Any:
    """The request among a view's arguments: first for a function view, second for a method."""
    for arg in args[:2]:
        if hasattr(arg, "user") and hasattr(arg, "method"):
            return arg
    raise TypeError("no request among the view's arguments")


def _dataset_by_address(address: str) -> Any:
    from apps.catalog.models import Dataset

    return Dataset.objects.filter(address=address).only("pk", "domain_id", "address").first()


def _request_id(request: Any) -> str:
    return getattr(request, "request_id", "") or getattr(getattr(request, "_request", None), "request_id", "")


def audited_dataset_access(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _request_of(args)
            # A NUL from the URL (a 404) cannot be stored or looked up in PostgreSQL text: shown escaped.
            address = str(kwargs.get("address", "")).replace("\x00", "\\x00")[:300]
            try:
                response = view(*args, **kwargs)
            except Http404:
                dataset = _dataset_by_address(address)
                if dataset is None:
                    audit_record(
                        actor=request.user, action=action, outcome=AuditEvent.Outcome.DENIED,
                        request_id=_request_id(request), object_repr=address, details={"found": False},
                    )  # fmt: skip
                else:
                    audit_record(
                        actor=request.user, action=action, obj=dataset, outcome=AuditEvent.Outcome.DENIED,
                        request_id=_request_id(request),
                    )  # fmt: skip
                raise
            if getattr(response, "status_code", 200) < 400:
                dataset = _dataset_by_address(address)
                audit_record(actor=request.user, action=action, obj=dataset, request_id=_request_id(request))
            return response

        return wrapper

    return decorate


def audit_search(request: Any, *, query: str, total: int, via: str) -> None:
    audit_record(
        actor=request.user, action="catalog.search", request_id=_request_id(request), object_repr=query[:300],
        details={"query": query[:200], "results": total, "via": via},
    )  # fmt: skip


def _object_of(request: HttpRequest) -> Any:
    match = getattr(request, "resolver_match", None)
    address = match.kwargs.get("address") if match is not None else None
    return _dataset_by_address(str(address)[:300]) if address else None


def audit_refusal(request: Any, *, status: int, code: str, message: str) -> None:
    """One row for a 4xx answer that refuses or denies an action (404 and 401 are not recorded
    here: a missing object is recorded by the view that looks it up, an anonymous call is no action)."""
    if status in (401, 404, 405) or request is None:
        return
    django_request = getattr(request, "_request", request)
    request_id = _request_id(request)
    if refusal_already_recorded(request_id):
        return
    try:
        with transaction.atomic():
            _record_refusal(django_request, request_id, status=status, code=code, message=message)
    except DatabaseError:  # never turn a refusal into a 500; the log keeps what was lost
        logger.exception("could not record the refusal of request %s", request_id)


def _record_refusal(django_request: Any, request_id: str, *, status: int, code: str, message: str) -> None:
    match = getattr(django_request, "resolver_match", None)
    view_name = (match.view_name if match is not None else "") or ""
    audit_record(
        actor=getattr(django_request, "user", None),
        action="request.deny" if status == 403 else "request.refuse",
        obj=_object_of(django_request),
        outcome=AuditEvent.Outcome.DENIED if status == 403 else AuditEvent.Outcome.REFUSED,
        request_id=request_id,
        object_repr=view_name,
        details={
            "method": django_request.method, "path": django_request.path[:300], "view": view_name,
            "status": status, "code": code, "reason": message[:300],
        },
    )  # fmt: skip
