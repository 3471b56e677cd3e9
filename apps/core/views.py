"""Helpers every server-rendered view shares."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from apps.core.errors import ApplicationError

View = Callable[..., HttpResponse]


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def refusals_shown(view: View) -> View:
    """An ``ApplicationError`` the view lets through (e.g. 403 for a viewer who is not an owner)
    becomes a page, or an HTMX fragment, that names the problem with the error's status."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            from apps.usage.access import audit_refusal  # one audit row per refusal, after the rollback

            audit_refusal(request, status=exc.status_code, code=exc.code, message=exc.message)
            template = "catalog/_refusal.html" if is_htmx(request) else "catalog/refusal.html"
            return render(request, template, {"message": exc.message}, status=exc.status_code)

    return wrapper


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: an address under ``/api/`` that matches no route answers in the API's JSON
    error shape, like every other API error; pages keep the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)
