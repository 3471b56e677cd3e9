"""The password log-in: guessing is refused after a few failures, it can be switched off, and a
deactivated person loses the session and the API token on the next request."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client

from apps.accounts.models import User
from apps.usage.models import AuditEvent
from tests.conftest import PASSWORD, client_for

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"


def log_in(client: Client, username: str, password: str, address: str = "10.0.0.1") -> object:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_wrong_passwords_lock_the_username_for_that_address_with_a_clear_message(bob: User, settings) -> None:
    settings.PORTAL_LOGIN_MAX_FAILURES = 5
    client = Client()
    for _ in range(5):
        response = log_in(client, "bob", "wrong")
        assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()

    refused = log_in(client, "BOB", PASSWORD)  # the right password, too late; usernames count case-blind
    assert refused.status_code == 429
    assert "Too many failed log-ins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    throttled = AuditEvent.objects.get(action="auth.login.throttled")
    assert (throttled.outcome, throttled.details) == ("refused", {"username": "BOB"})

    # Another address, or another username from this address, is not locked.
    assert log_in(Client(), "bob", PASSWORD, address="10.0.0.2").status_code == 302
    assert log_in(Client(), "alice", "wrong").status_code == 200


def test_the_lock_ends_when_the_window_has_passed(bob: User, settings) -> None:
    settings.PORTAL_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        log_in(Client(), "bob", "wrong")
    assert "Too many failed" in log_in(Client(), "bob", PASSWORD).content.decode()
    settings.PORTAL_LOGIN_FAILURE_WINDOW_SECONDS = 0
    assert log_in(Client(), "bob", PASSWORD).status_code == 302


def test_a_successful_log_in_forgets_earlier_failures(bob: User, settings) -> None:
    settings.PORTAL_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        log_in(Client(), "bob", "wrong")
    assert log_in(Client(), "bob", PASSWORD).status_code == 302
    for _ in range(2):
        log_in(Client(), "bob", "wrong")
    assert log_in(Client(), "bob", PASSWORD).status_code == 302


def test_the_token_api_is_locked_the_same_way(bob: User, settings) -> None:
    settings.PORTAL_LOGIN_MAX_FAILURES = 3
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        response = client.post(TOKEN, {"username": "bob", "password": "wrong"}, content_type="application/json")
        assert response.status_code == 400
    response = client.post(TOKEN, {"username": "bob", "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and "Too many failed log-ins" in response.json()["message"]
    assert list(AuditEvent.objects.filter(outcome__in=["refused", "denied"]).values_list("action", "outcome")) == [
        ("auth.token", "refused"), *[("auth.token", "denied")] * 3
    ]


def test_local_log_in_can_be_switched_off(bob: User, settings) -> None:
    settings.PORTAL_LOCAL_LOGIN = False
    settings.PORTAL_OIDC_ENABLED = True
    page = Client().get(LOGIN).content.decode()
    assert "Log in with single sign-on" in page and 'name="password"' not in page

    response = log_in(Client(), "bob", PASSWORD)
    assert response.status_code == 403 and "switched off" in response.content.decode()
    token = Client().post(TOKEN, {"username": "bob", "password": PASSWORD}, content_type="application/json")
    assert token.status_code == 403 and "switched off" in token.json()["message"]
    assert sorted(AuditEvent.objects.values_list("action", "outcome")) == [
        ("auth.login.local_disabled", "refused"), ("auth.token", "refused"),
    ]


@pytest.mark.django_db
def test_without_single_sign_on_the_page_has_no_sso_button_and_bearer_tokens_are_refused() -> None:
    page = Client().get(LOGIN).content.decode()
    assert "single sign-on" not in page and 'name="password"' in page
    assert Client().get("/oidc/authenticate/").status_code == 404
    response = Client().get("/api/v1/domains/", HTTP_AUTHORIZATION="Bearer a.b.c")
    assert response.status_code in (401, 403) and "not configured" in response.json()["message"]


@pytest.mark.django_db
def test_the_admin_site_logs_in_through_the_portal_log_in_page() -> None:
    response = Client().get("/admin/login/?next=/admin/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=%2Fadmin%2F")


def test_a_user_deactivated_in_the_portal_loses_the_session_and_the_api_token_on_the_next_request(
    bob: User,
) -> None:
    browser = Client()
    assert log_in(browser, "bob", PASSWORD).status_code == 302
    token = Client().post(TOKEN, {"username": "bob", "password": PASSWORD}, content_type="application/json").json()
    api = Client(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert browser.get("/").status_code == 200 and api.get("/api/v1/domains/").status_code == 200

    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert browser.get("/").status_code == 302
    assert browser.get("/api/v1/domains/").status_code in (401, 403)
    assert api.get("/api/v1/domains/").status_code in (401, 403)
    assert log_in(Client(), "bob", PASSWORD).status_code == 200  # and no new session


def test_a_forced_login_session_of_a_deactivated_user_is_gone_too(charlie: User) -> None:
    client = client_for(charlie)
    charlie.is_active = False
    charlie.save()
    assert client.get("/").status_code == 302


def _in_parallel(count: int, attempt: Callable[[], int]) -> list[int]:
    """Run ``attempt`` in ``count`` threads released at once; each thread has its own connection."""
    start = threading.Barrier(count)

    def run() -> int:
        try:
            start.wait(timeout=10)
            return attempt()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_never_get_more_than_the_limit_to_the_password_check(bob: User, settings) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("parallel connections need PostgreSQL")
    settings.PORTAL_LOGIN_MAX_FAILURES = 3

    page = _in_parallel(12, lambda: log_in(Client(), "bob", "wrong", address="10.0.0.9").status_code)
    api = _in_parallel(12, lambda: Client(REMOTE_ADDR="10.0.0.8").post(
        TOKEN, {"username": "bob", "password": "wrong"}, content_type="application/json").status_code)

    # The page answers 200 "Please enter a correct username and password" and the API 400 when the password
    # was checked; 429 when the attempt was refused before.
    assert sorted(page) == [200] * 3 + [429] * 9
    assert sorted(api) == [400] * 3 + [429] * 9
    assert log_in(Client(), "bob", PASSWORD, address="10.0.0.9").status_code == 429
    assert AuditEvent.objects.filter(action="auth.login.throttled").count() == 10
    assert AuditEvent.objects.filter(action="auth.token", outcome="denied").count() == 3


def test_a_post_without_a_password_does_not_clear_the_failures(bob: User, settings) -> None:
    settings.PORTAL_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        log_in(Client(), "bob", "wrong")
    Client().post(LOGIN, {"username": "bob"}, REMOTE_ADDR="10.0.0.1")
    assert log_in(Client(), "bob", PASSWORD).status_code == 429
