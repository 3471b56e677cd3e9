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


def _flatten(path: str, value: Any, into: dict[str, list[str]]) -> None:
    """DRF's nested errors as readable messages by path: a list item's errors (``{0: [...]}``, as a
    ``ListField`` gives them) under ``name[0]``, a nested object's under ``name.field``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}", inner, into)
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        for index, inner in enumerate(value):
            if inner:  # a list serializer gives ``{}`` for the items without errors
                _flatten(f"{path}[{index}]", inner, into)
    else:
        messages = value if isinstance(value, list) else [value]
        into.setdefault(path, []).extend(str(m) for m in messages)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _error_response(exc, context)
    if response is not None and 400 <= response.status_code < 500:
        from apps.usage.access import audit_refusal  # one audit row per refusal, after the rollback

        data = response.data if isinstance(response.data, dict) else {}
        audit_refusal(
            context.get("request"), status=response.status_code, code=str(data.get("code", "")),
            message=str(data.get("message", "")),
        )  # fmt: skip
    return response


def _error_response(exc: Exception, context: dict[str, Any]) -> Response | None:
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
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # DRF answers 403 when its first authenticator (the session) names no scheme; a request
        # without valid credentials is 401, with the scheme a client can use.
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = 'Token realm="api"'
    detail = response.data
    if isinstance(detail, dict) and "detail" in detail and len(detail) == 1:
        response.data = {"message": str(detail["detail"]), "code": getattr(detail["detail"], "code", "error")}
    elif isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for name, value in detail.items():
            _flatten(str(name), value, fields)
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        response.data = {"message": message, "code": "invalid", "fields": fields}
    elif isinstance(detail, list):
        response.data = {"message": " ".join(str(m) for m in detail), "code": "invalid"}
    return response
