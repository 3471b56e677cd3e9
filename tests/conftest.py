"""The three people of every test: alice owns HR, bob is an analyst, charlie has no access."""

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import Client

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
