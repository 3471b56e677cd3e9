"""The one place where exceptions become JSON error answers for the API."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError


def _django_validation_detail(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "message_dict"):
        fields = {name: list(messages) for name, messages in exc.message_dict.items()}
        message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        return {"message": message, "code": "invalid", "fields": fields}
    return {"message": " ".join(exc.messages), "code": "invalid"}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"message": exc.message, "code": exc.code}
        if exc.field:
            body["fields"] = {exc.field: [exc.message]}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response(_django_validation_detail(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response({"message": "Not found.", "code": "not_found"}, status=404)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(detail, dict) and "detail" in detail and len(detail) == 1:
        response.data = {"message": str(detail["detail"]), "code": getattr(detail["detail"], "code", "error")}
    elif isinstance(detail, dict):
        fields = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        response.data = {"message": message, "code": "invalid", "fields": fields}
    elif isinstance(detail, list):
        response.data = {"message": " ".join(str(m) for m in detail), "code": "invalid"}
    return response
