"""Access tokens as RS256 JWTs (like Keycloak, Entra ID and Okta issue them), with an audience."""

import time
import uuid
from typing import Any

from django.conf import settings

from tests.oidc_provider import misbehaviour

# Clients whose tokens are also meant for another resource server: the CLI's tokens are for the portal.
EXTRA_AUDIENCES = {"portal-cli": ["portal"]}


def jwt_access_token(request: Any, refresh_token: bool = False) -> str:
    now = int(time.time())
    client_id = request.client_id or request.client.client_id
    user = getattr(request, "user", None)
    claims = {
        "iss": settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"],
        "sub": str(user.pk) if user is not None else client_id,
        "aud": [client_id, *EXTRA_AUDIENCES.get(client_id, [])],
        "client_id": client_id,
        "scope": " ".join(request.scopes or []),
        "iat": now,
        "exp": now + settings.OAUTH2_PROVIDER.get("ACCESS_TOKEN_EXPIRE_SECONDS", 3600),
        "jti": uuid.uuid4().hex,
    }
    return misbehaviour.sign(claims)
