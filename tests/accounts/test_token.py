import pytest
from django.test import Client

from apps.accounts.models import User
from apps.usage.models import AuditEvent
from tests.conftest import PASSWORD

URL = "/api/v1/auth/token/"


def obtain(username: str, password: str) -> tuple[int, dict]:
    response = Client().post(URL, {"username": username, "password": password}, content_type="application/json")
    return response.status_code, response.json()


def test_a_user_exchanges_a_password_for_a_token_that_opens_the_api(bob: User) -> None:
    status, body = obtain("bob", PASSWORD)
    assert status == 200
    response = Client().get("/api/v1/domains/", HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="auth.token", actor=bob, outcome="success").count() == 1


def test_the_same_token_comes_back_each_time(bob: User) -> None:
    assert obtain("bob", PASSWORD)[1]["token"] == obtain("bob", PASSWORD)[1]["token"]


def test_a_wrong_password_gets_no_token_and_is_audited(bob: User) -> None:
    status, body = obtain("bob", "wrong-password")
    assert status == 400
    assert "Wrong username or password" in body["message"]
    assert "token" not in body
    denial = AuditEvent.objects.get(action="auth.token")
    assert (denial.outcome, denial.actor, denial.details) == ("denied", None, {"username": "bob"})


def test_an_inactive_user_gets_no_token(bob: User) -> None:
    bob.is_active = False
    bob.save()
    assert obtain("bob", PASSWORD)[0] == 400


def test_a_token_stops_working_when_its_user_is_deactivated(bob: User) -> None:
    token = obtain("bob", PASSWORD)[1]["token"]
    bob.is_active = False
    bob.save()
    response = Client().get("/api/v1/domains/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code in (401, 403)
    assert "inactive" in response.json()["message"]


@pytest.mark.django_db
def test_a_made_up_token_is_refused() -> None:
    response = Client().get("/api/v1/datasets/", HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert response.status_code in (401, 403)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'{"username": "bob"}', b'{"username": 1, "password": 2}', b'{"username": "\\u0000"}',
     b'{"username": "\\ud800", "password": "x"}', b"[" * 50_000, b'{"username": "' + b"x" * 3_000_000 + b'"}'],
)
def test_bad_token_requests_are_a_4xx(body: bytes) -> None:
    response = Client().generic("POST", URL, data=body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert "message" in response.json()
