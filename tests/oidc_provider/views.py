"""Test-only controls of the provider: what it gets wrong, and its users' groups and status."""

import json

from django.contrib.auth.models import Group, User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import AccessToken, RefreshToken

from tests.oidc_provider import misbehaviour


@csrf_exempt
def set_mode(request: HttpRequest) -> HttpResponse:
    mode = json.loads(request.body)["mode"]
    if mode not in misbehaviour.MODES:
        return JsonResponse({"error": f"unknown mode {mode}"}, status=400)
    misbehaviour.current["mode"] = mode
    return JsonResponse({"mode": mode})


@csrf_exempt
def update_user(request: HttpRequest, username: str) -> HttpResponse:
    body = json.loads(request.body)
    user = User.objects.get(username=username)
    if "groups" in body:
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in body["groups"]])
    if "is_active" in body:
        user.is_active = bool(body["is_active"])
        user.save(update_fields=["is_active"])
        if not user.is_active:
            # Disabling an account at a provider ends its grants.
            RefreshToken.objects.filter(user=user).delete()
            AccessToken.objects.filter(user=user).delete()
    return JsonResponse({"username": user.username, "groups": sorted(user.groups.values_list("name", flat=True))})
