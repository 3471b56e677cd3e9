"""Backend passwords encrypted at rest with Fernet.

The key is ``settings.PORTAL_CREDENTIALS_KEY`` (urlsafe base64 of 32 bytes). Several keys may be
given, separated by commas: the first encrypts, all of them decrypt, so a key can be rotated. When
the setting is empty (settings only allow that with DEBUG on), a key is derived from SECRET_KEY.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from apps.core.errors import BackendUnavailable


class CredentialsKeyError(BackendUnavailable):
    """The credentials key is malformed, or it is not the key a stored password was encrypted with."""


def _derived_key() -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal-backend-credentials")
    return base64.urlsafe_b64encode(hkdf.derive(settings.SECRET_KEY.encode()))


def _fernet() -> MultiFernet:
    configured = [k.strip() for k in (settings.PORTAL_CREDENTIALS_KEY or "").split(",") if k.strip()]
    keys = [k.encode() for k in configured] or [_derived_key()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise CredentialsKeyError(
            "PORTAL_CREDENTIALS_KEY is not a valid key: it must be the urlsafe base64 encoding of 32 bytes "
            "(generate one with cryptography.fernet.Fernet.generate_key())."
        ) from None


def encrypt_password(password: str) -> bytes:
    if not password:
        return b""
    return _fernet().encrypt(password.encode())


def decrypt_password(token: bytes | memoryview) -> str:
    data = bytes(token)
    if not data:
        return ""
    try:
        return _fernet().decrypt(data).decode()
    except InvalidToken:
        raise CredentialsKeyError(
            "The stored backend password cannot be decrypted with the current PORTAL_CREDENTIALS_KEY: "
            "the key changed. Restore the old key (listed after the new one) or enter the password again."
        ) from None
