"""The three people of every test: alice owns HR, bob is an analyst, charlie has no access."""

import os
import shutil
from collections.abc import Iterator

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import Client
from playwright.sync_api import Browser, sync_playwright

from apps.accounts.models import User
from apps.domains.models import Domain, Sensitivity
from tests.factories import DomainFactory, GroupFactory, UserFactory

PASSWORD = "correct-horse-battery"

# The live server of the HTTP tests takes bursts of concurrent clients: a listen backlog of 10
# would reset connections before the application sees them.
ThreadedWSGIServer.request_queue_size = 128


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def bob(db: None) -> User:
    user = UserFactory(username="bob")
    user.groups.add(GroupFactory(name="analysts"))
    return user


@pytest.fixture
def charlie(db: None) -> User:
    return UserFactory(username="charlie")


@pytest.fixture
def hr(alice: User, bob: User) -> Domain:
    """The confidential HR domain: owned by alice, visible to the analysts group (bob)."""
    domain = DomainFactory(slug="hr", name="Human Resources", sensitivity=Sensitivity.CONFIDENTIAL)
    domain.owners.add(alice)
    domain.visible_to_groups.add(GroupFactory(name="analysts"))
    return domain


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the Chromium every browser test drives (tests/e2e, tests/security) ----------------------------
# Playwright's sync API runs an event loop in the test thread; browser tests touch the database from
# that thread on purpose.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Browser tests need Debian's chromium on PATH (apt-get install chromium).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()
