import json
from typing import Any

from jwcrypto import jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.oidc_provider import misbehaviour


class MisbehavingValidator(OAuth2Validator):
    """django-oauth-toolkit's validator with the claims the portal maps (groups, names, email), the
    ``sub`` of a user that stays the same when the username changes, and the misbehaviour switch."""

    oidc_claim_scope = None  # every claim in every token: the portal decides what it uses

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": True,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": sorted(user.groups.values_list("name", flat=True)),
        }

    def finalize_id_token(self, id_token: dict[str, Any], token: Any, token_handler: Any, request: Any) -> str:
        signed = super().finalize_id_token(id_token, token, token_handler, request)
        if misbehaviour.current["mode"] == "normal":
            return signed
        claims = json.loads(jwt.JWT(jwt=signed, key=misbehaviour.signing_key()).claims)
        return misbehaviour.sign(claims)

    def validate_bearer_token(self, token: str, scopes: Any, request: Any) -> bool:
        # Like real providers, a disabled account's tokens stop working (userinfo answers 401).
        valid = super().validate_bearer_token(token, scopes, request)
        return bool(valid and request.user is not None and request.user.is_active)
