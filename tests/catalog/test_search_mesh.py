"""A small mesh for the search tests, and the tests of the indexed text itself."""

from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset, Tag
from apps.catalog.search_index import dataset_reindex, dataset_search_text
from apps.domains.models import Domain, Sensitivity
from tests.factories import ColumnFactory, DataProductFactory, DatasetFactory, DomainFactory, UserFactory


def make_dataset(
    domain: Domain,
    address: str,
    *,
    name: str = "",
    description: str = "",
    tags: Iterable[str] = (),
    columns: Iterable[str | tuple[str, str]] = (),
    product: DataProduct | None = None,
) -> Dataset:
    table_name = address.rsplit(".", 1)[-1]
    dataset = DatasetFactory(
        domain=domain,
        address=address,
        table_name=table_name,
        name=name or table_name,
        description=description,
        product=product,
        sensitivity=domain.sensitivity,
    )
    for tag in tags:
        dataset.tags.add(Tag.objects.get_or_create(name=tag)[0])
    for position, column in enumerate(columns):
        column_name, column_description = (column, "") if isinstance(column, str) else column
        ColumnFactory(dataset=dataset, name=column_name, description=column_description, position=position)
    dataset_reindex(dataset)
    return dataset


@dataclass
class Mesh:
    adult: Dataset
    salaries: Dataset
    orders: Dataset
    customers: Dataset
    audience: Dataset
    sales: Domain
    marketing: Domain
    sam: User
    pat: User


def build_mesh(hr: Domain) -> Mesh:
    """hr (confidential, alice owns it, only analysts see it), sales and marketing (open, for everyone).

    Besides ``hr.census.adult``, two open datasets mention "adult" again and again, so that only the
    exact-match rule can put ``hr.census.adult`` first.
    """
    sam, pat = UserFactory(username="sam"), UserFactory(username="pat")
    sales = DomainFactory(slug="sales", name="Sales", sensitivity=Sensitivity.OPEN)
    sales.owners.add(sam)
    marketing = DomainFactory(slug="marketing", name="Marketing", sensitivity=Sensitivity.OPEN)
    census = DataProductFactory(domain=hr, slug="census", name="Census extract")
    shop = DataProductFactory(domain=sales, slug="shop", name="Web shop")
    shop.owners.add(pat)
    adult = make_dataset(
        hr,
        "hr.census.adult",
        description="Census income records, one row per person.",
        tags=["census", "income"],
        columns=["person_id", "age", ("workclass", "Kind of employer"), "education", "sex", "income"],
        product=census,
    )
    salaries = make_dataset(
        hr, "hr.census.salaries", description="Salary bands.", tags=["income"], columns=["grade", "salary"]
    )
    orders = make_dataset(
        sales,
        "sales.shop.orders",
        description="Orders of adult customers. Adult orders only; adult adult adult.",
        tags=["sales", "income"],
        columns=["order_id", "customer_id", ("adult_customer", "Adult or not"), "amount"],
        product=shop,
    )
    customers = make_dataset(
        sales, "sales.shop.customers", description="Customer master data.", tags=["sales"],
        columns=["customer_id", ("email_address", "Where to write")], product=shop,
    )
    audience = make_dataset(
        marketing,
        "marketing.web.adult_audience",
        name="Adult audience (adult segments)",
        description="Adult adult adult audience segments for adult campaigns.",
        tags=["marketing"],
        columns=["adult_share", "adult_count"],
    )
    return Mesh(adult, salaries, orders, customers, audience, sales, marketing, sam, pat)


@pytest.mark.django_db
def test_the_indexed_text_starts_with_the_title_and_holds_columns_tags_and_product(hr):
    mesh = build_mesh(hr)
    title, _, body = dataset_search_text(mesh.adult).partition("\n")
    assert "hr.census.adult" in title
    assert "hr census adult" in title
    for word in ("person_id", "person id", "workclass", "Kind of employer", "census", "income", "Census extract"):
        assert word in body


@pytest.mark.django_db
def test_reindexing_picks_up_a_new_column_and_forgets_a_removed_one(hr):
    mesh = build_mesh(hr)
    ColumnFactory(dataset=mesh.salaries, name="bonus_rate")
    Column.objects.filter(dataset=mesh.salaries, name="grade").update(removed_at="2025-01-01T00:00:00Z")
    dataset_reindex(mesh.salaries)
    stored = Dataset.objects.get(pk=mesh.salaries.pk).search_text
    assert "bonus rate" in stored
    assert "grade" not in stored
