"""A small mesh for the API tests: the confidential HR domain (alice owns it, bob's group sees it)
and an open sales domain everyone signed in sees. Imported by the API test modules."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset, Tag
from apps.domains.models import Domain, Sensitivity
from apps.usage.models import AuditEvent
from tests.factories import BackendFactory, ColumnFactory, DataProductFactory, DatasetFactory, DomainFactory

HR_BACKEND_URL = "postgresql+psycopg://hr_reader@db.hr.internal:5432/census"
XSS_DESCRIPTION = "Census extract. <script>alert('x')</script> **bold** <img src=x onerror=alert(1)>"


@dataclass
class Mesh:
    hr: Domain
    census: DataProduct
    adult: Dataset
    age: Column
    workclass: Column
    sales: Domain
    orders: Dataset


def build_mesh(*, hr: Domain, alice: User) -> Mesh:
    backend = BackendFactory(domain=hr, slug="census", kind="postgresql", url=HR_BACKEND_URL)
    census = DataProductFactory(domain=hr, slug="census", name="Census")
    adult = DatasetFactory(
        domain=hr, product=census, backend=backend, address="hr.census.adult", table_name="adult", name="adult",
        sensitivity=Sensitivity.CONFIDENTIAL, row_count=32561, description=XSS_DESCRIPTION,
        privacy_unit_column="person_id", harvested_at=timezone.now(),
    )
    adult.tags.add(Tag.objects.create(name="census"))
    ColumnFactory(dataset=adult, name="person_id", position=0, classification=Column.Classification.IDENTIFIER)
    age = ColumnFactory(
        dataset=adult, name="age", position=1, lower_bound=Decimal("17"), upper_bound=Decimal("90"),
        classification=Column.Classification.QUASI_IDENTIFIER,
    )
    workclass = ColumnFactory(
        dataset=adult, name="workclass", position=2, data_type="TEXT", logical_type=Column.LogicalType.STRING,
        categories=["Private", "Self-emp"],
    )
    ColumnFactory(dataset=adult, name="dropped", position=3, removed_at=timezone.now())

    sales = DomainFactory(slug="sales", name="Sales", sensitivity=Sensitivity.OPEN)
    sales.owners.add(alice)
    shop = DataProductFactory(domain=sales, slug="shop", name="Shop")
    orders = DatasetFactory(
        domain=sales, product=shop, backend=BackendFactory(domain=sales, slug="shop"),
        address="sales.shop.orders", table_name="orders", name="orders", row_count=1000,
    )
    orders.tags.add(Tag.objects.create(name="orders"))
    ColumnFactory(dataset=orders, name="amount", logical_type=Column.LogicalType.FLOAT, data_type="DOUBLE",
                  lower_bound=Decimal("0"), upper_bound=Decimal("1000.5"))
    return Mesh(hr=hr, census=census, adult=adult, age=age, workclass=workclass, sales=sales, orders=orders)


def catalog_state() -> list[object]:
    """Everything an API write could change, to assert that a refused request changed nothing."""
    state: list[object] = []
    for model in (Domain, DataProduct, Dataset, Column, Tag):
        state.append(list(model.objects.order_by("pk").values()))
    for through in (
        Domain.owners.through, Domain.visible_to_groups.through, DataProduct.owners.through,
        DataProduct.tags.through, Dataset.tags.through, Column.tags.through,
    ):
        state.append(sorted(through.objects.values_list(*[f.attname for f in through._meta.fields])))
    state.append(AuditEvent.objects.exclude(outcome__in=["refused", "denied"]).count())  # a refusal has its row
    return state
