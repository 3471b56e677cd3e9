"""What the test provider gets wrong on purpose, switched at run time through ``/_test/mode/``.

``normal`` issues correct tokens. The others break one property of every ID token and access token
issued afterwards, so that the portal's checks can be seen to refuse them.
"""

import base64
import json
import time
from typing import Any

from django.conf import settings
from jwcrypto import jwk, jwt

MODES = ("normal", "wrong_iss", "wrong_aud", "alg_none", "expired", "foreign_key", "wrong_nonce")
current = {"mode": "normal"}


def signing_key() -> jwk.JWK:
    return jwk.JWK.from_pem(settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"].encode())


def foreign_key() -> jwk.JWK:
    return jwk.JWK.from_pem((settings.STATE_DIR / "foreign-key.pem").read_bytes())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any]) -> str:
    """Sign the claims as an RS256 JWT, or break them as the current mode says."""
    mode = current["mode"]
    claims = dict(claims)
    if mode == "wrong_iss":
        claims["iss"] = "http://127.0.0.1:1/not-the-issuer"
    elif mode == "wrong_aud":
        claims["aud"] = "someone-else"
    elif mode == "wrong_nonce" and "nonce" in claims:
        claims["nonce"] = "the-nonce-of-another-log-in"
    elif mode == "expired":
        claims["iat"] = int(time.time()) - 7200
        claims["exp"] = int(time.time()) - 3600
    if mode == "alg_none":
        header = {"typ": "JWT", "alg": "none"}
        return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims, default=str).encode())}."
    key = foreign_key() if mode == "foreign_key" else signing_key()
    header = {"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}
    token = jwt.JWT(header=header, claims=json.dumps(claims, default=str))
    token.make_signed_token(key)
    return token.serialize()
