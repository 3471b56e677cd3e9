"""Helpers every server-rendered view shares."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
            template = "catalog/_refusal.html" if is_htmx(request) else "catalog/refusal.html"
            return render(request, template, {"message": exc.message}, status=exc.status_code)

    return wrapper
