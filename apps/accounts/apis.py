"""API tokens. Send ``Authorization: Token <key>`` with every API request; a deactivated user's
token stops working on the next request."""

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.services import (
    client_address,
    login_attempt_start,
    login_failures_clear,
    login_refusal_message,
)
from apps.core.errors import ApplicationError, Forbidden
from apps.core.parsers import SafeJSONParser
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record


class Throttled(ApplicationError):
    status_code = 429
    code = "throttled"


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as the header `Authorization: Token <token>`.")


class TokenErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()


def _password_login_check(*, username: str, address: str | None, request: Request) -> None:
    """Refuse (audited) when password log-in is switched off or the username failed too often; else
    record the attempt (a failure until the password proves right) before the password is checked."""
    reason = ""
    if not settings.PORTAL_LOCAL_LOGIN:
        reason, error = "local_login_disabled", Forbidden(
            "Log-in with a password is switched off here: use a bearer token from the identity provider.")
    elif not login_attempt_start(username=username, address=address):
        reason, error = "throttled", Throttled(login_refusal_message())
    if reason:
        audit_record(
            actor=None, action="auth.token", outcome=AuditEvent.Outcome.REFUSED,
            request_id=request.request_id, details={"username": username[:150], "reason": reason},
        )
        raise error


@transaction.atomic
def _token_issue(*, username: str, password: str, request: Request) -> Token | None:
    """The user's token, or None (and a denial in the audit trail) when the credentials fail."""
    address = client_address(request._request)
    user: Any = authenticate(request._request, username=username, password=password)
    if not isinstance(user, User) or not user.is_active:  # the attempt stays counted as a failure
        audit_record(
            actor=None, action="auth.token", outcome=AuditEvent.Outcome.DENIED,
            request_id=request.request_id, details={"username": username},
        )
        return None
    login_failures_clear(username=username, address=address)
    token, _ = Token.objects.get_or_create(user=user)
    audit_record(actor=user, action="auth.token", obj=user, request_id=request.request_id)
    return token


class TokenObtainApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [SafeJSONParser]

    @extend_schema(
        tags=["auth"],
        summary="Get your API token",
        description="Exchange a username and password for a token (the same one each time). Send it with "
        "every request as `Authorization: Token <token>`.",
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer, 400: TokenErrorSerializer, 403: TokenErrorSerializer, 429: TokenErrorSerializer,
        },
        examples=[OpenApiExample("Request", value={"username": "bob", "password": "…"}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _password_login_check(
            username=serializer.validated_data["username"], address=client_address(request._request), request=request
        )
        token = _token_issue(request=request, **serializer.validated_data)
        if token is None:
            raise ApplicationError("Wrong username or password, or the account is inactive.")
        return Response({"token": token.key}, status=status.HTTP_200_OK)
