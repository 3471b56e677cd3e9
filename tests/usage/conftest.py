"""Fixtures of the usage tests: a small mesh and hand-made usage events.

- ``adult``: hr.census.adult in alice's HR product ``census`` (confidential, visible to analysts).
- ``orders``: sales.shop.orders, an open dataset of the sales domain (owned by admin).
- ``dave``: an analyst who works in sales; bob works in marketing (``Domain.members``).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import DataProduct, Dataset
from apps.domains.models import Domain
from apps.privacy.models import LedgerEntry
from apps.usage.models import AuditEvent
from tests.factories import DataProductFactory, DatasetFactory, DomainFactory, GroupFactory, UserFactory


@pytest.fixture(autouse=True)
def _refresh_today_on_every_read(settings) -> None:
    settings.PORTAL_USAGE_TODAY_REFRESH_SECONDS = 0


@pytest.fixture
def census(hr: Domain, alice: User) -> DataProduct:
    product = DataProductFactory(domain=hr, slug="census", name="Census workforce")
    return product


@pytest.fixture
def adult(hr: Domain, census: DataProduct) -> Dataset:
    return DatasetFactory(domain=hr, product=census, table_name="adult", name="adult", address="hr.census.adult")


@pytest.fixture
def sales(admin_user: User) -> Domain:
    domain = DomainFactory(slug="sales", name="Sales")
    domain.owners.add(admin_user)
    return domain


@pytest.fixture
def marketing(bob: User) -> Domain:
    domain = DomainFactory(slug="marketing", name="Marketing")
    domain.members.add(bob)
    return domain


@pytest.fixture
def orders(sales: Domain) -> Dataset:
    return DatasetFactory(domain=sales, table_name="orders", name="orders", address="sales.shop.orders")


@pytest.fixture
def dave(sales: Domain) -> User:
    user = UserFactory(username="dave")
    user.groups.add(GroupFactory(name="analysts"))
    sales.members.add(user)
    return user


def event(user: User, action: str, dataset: Dataset, *, days_ago: int = 0, outcome: str = "success") -> AuditEvent:
    """A usage event as ``audit_record`` writes it, ``days_ago`` days back (UTC days; on "today" it is
    never before midnight, whatever time the test runs)."""
    when = timezone.now() - dt.timedelta(days=days_ago)
    when = max(when.replace(hour=0, minute=0, second=1, microsecond=0), when - dt.timedelta(minutes=1))
    return AuditEvent.objects.create(
        occurred_at=when, actor=user, action=action, object_type="catalog.dataset", object_id=str(dataset.pk),
        object_repr=dataset.address, outcome=outcome, domain_id=dataset.domain_id, dataset_id=dataset.pk,
    )


def spend(user: User, dataset: Dataset, epsilon: str) -> None:
    """A reservation and its commit in the ledger, as the accountant writes them."""
    reserve = LedgerEntry.objects.create(
        kind=LedgerEntry.Kind.RESERVE, dataset=dataset, user=user, mechanism="laplace", epsilon=Decimal(epsilon)
    )
    LedgerEntry.objects.create(
        kind=LedgerEntry.Kind.COMMIT, reservation=reserve, dataset=dataset, user=user, mechanism="laplace",
        epsilon=Decimal(epsilon),
    )
