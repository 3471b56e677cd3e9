import pytest
from cryptography.fernet import Fernet

from apps.domains.crypto import CredentialsKeyError, decrypt_password, encrypt_password


def test_a_password_round_trips_and_is_not_stored_in_clear():
    token = encrypt_password("s3cret-Pa55")
    assert b"s3cret" not in token
    assert decrypt_password(token) == "s3cret-Pa55"
    assert decrypt_password(memoryview(token)) == "s3cret-Pa55"


def test_an_empty_password_stays_empty():
    assert encrypt_password("") == b""
    assert decrypt_password(b"") == ""


def test_a_different_key_gives_a_clear_error_instead_of_a_crash(settings):
    token = encrypt_password("s3cret")
    settings.PORTAL_CREDENTIALS_KEY = Fernet.generate_key().decode()
    with pytest.raises(CredentialsKeyError, match="cannot be decrypted with the current PORTAL_CREDENTIALS_KEY"):
        decrypt_password(token)


def test_a_malformed_key_gives_a_clear_error(settings):
    settings.PORTAL_CREDENTIALS_KEY = "not-a-key"
    with pytest.raises(CredentialsKeyError, match="not a valid key"):
        encrypt_password("s3cret")


def test_an_old_key_listed_after_the_new_one_still_decrypts(settings):
    old = settings.PORTAL_CREDENTIALS_KEY
    token = encrypt_password("s3cret")
    settings.PORTAL_CREDENTIALS_KEY = f"{Fernet.generate_key().decode()},{old}"
    assert decrypt_password(token) == "s3cret"


def test_without_a_key_one_is_derived_from_the_secret_key(settings):
    settings.PORTAL_CREDENTIALS_KEY = ""
    token = encrypt_password("s3cret")
    assert decrypt_password(token) == "s3cret"
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(CredentialsKeyError):
        decrypt_password(token)
