"""Defects found in review: hidden synthetic samples listed with products and counted on pages, NUL
characters in addresses giving a 500, and a confidential turn that rewrote DP samples."""

import pytest

from apps.accounts.models import User
from apps.catalog.models import DataProduct, Dataset
from apps.domains.models import Domain
from tests.conftest import client_for
from tests.factories import DataProductFactory, DatasetFactory

API = "/api/v1"


@pytest.fixture
def census(hr: Domain) -> DataProduct:
    """The hr census product: the adult table and a DP synthetic sample drawn from it."""
    product = DataProductFactory(domain=hr, slug="census", name="Census")
    adult = DatasetFactory(domain=hr, product=product, table_name="adult", address="hr.census.adult")
    DatasetFactory(domain=hr, product=product, table_name="adult_synth", address="hr.census.adult_synth",
                   kind=Dataset.Kind.SYNTHETIC, derived_from=adult)
    return product


def test_a_reader_without_rights_on_the_source_does_not_see_the_sample_in_the_product_apis(
    alice: User, bob: User, census: DataProduct
) -> None:
    for url in (f"{API}/products/", f"{API}/products/?domain=hr", f"{API}/domains/hr/products/"):
        bob_rows = client_for(bob).get(url).json()["results"]
        alice_rows = client_for(alice).get(url).json()["results"]
        assert [r["datasets"] for r in bob_rows] == [["hr.census.adult"]], url
        assert [r["datasets"] for r in alice_rows] == [["hr.census.adult", "hr.census.adult_synth"]], url
    detail = f"{API}/domains/hr/products/census/"
    assert client_for(bob).get(detail).json()["datasets"] == ["hr.census.adult"]
    assert client_for(alice).get(detail).json()["datasets"] == ["hr.census.adult", "hr.census.adult_synth"]


def test_the_product_api_after_a_change_lists_only_what_the_editor_may_see(alice: User, census: DataProduct) -> None:
    response = client_for(alice).patch(f"{API}/domains/hr/products/census/", {"name": "Census 2"},
                                       content_type="application/json")

    assert response.status_code == 200
    assert response.json()["datasets"] == ["hr.census.adult", "hr.census.adult_synth"]


def test_charlie_gets_404_for_the_product_with_a_sample(charlie: User, census: DataProduct) -> None:
    assert client_for(charlie).get(f"{API}/domains/hr/products/census/").status_code == 404
    assert client_for(charlie).get(f"{API}/products/").json()["results"] == []


def test_the_catalog_pages_count_only_the_datasets_the_viewer_may_see(
    alice: User, bob: User, census: DataProduct
) -> None:
    def page(user: User, url: str) -> str:
        return " ".join(client_for(user).get(url).content.decode().split())

    assert '<span class="label">Datasets</span> 1</span>' in page(bob, "/")
    assert '<span class="label">Datasets</span> 2</span>' in page(alice, "/")
    assert '<td class="num">1</td>' in page(bob, "/d/hr/")
    assert '<td class="num">2</td>' in page(alice, "/d/hr/")


def test_the_dcat_catalog_leaves_out_samples_the_viewer_may_not_read(
    alice: User, bob: User, census: DataProduct
) -> None:
    def identifiers(user: User) -> list[str]:
        body = client_for(user).get(f"{API}/dcat/", HTTP_ACCEPT="application/json").json()
        return sorted(node["dct:identifier"] for node in body["dcat:dataset"])

    assert identifiers(bob) == ["hr.census.adult"]
    assert identifiers(alice) == ["hr.census.adult", "hr.census.adult_synth"]


@pytest.mark.parametrize("url", [
    "/datasets/hr%00/",
    "/datasets/hr.census.adult%00/",
    "/d/hr%00/",
    "/datasets/hr%00/about/",
    "/datasets/hr%00/edit/",
    "/datasets/hr%00/columns/1/",
    "/d/hr/census%00/",
    f"{API}/datasets/hr%00/",
    f"{API}/datasets/hr%00/columns/",
    f"{API}/datasets/hr.census.adult/columns/age%00/",
    f"{API}/domains/hr%00/",
    f"{API}/domains/hr%00/products/",
    f"{API}/domains/hr/products/census%00/",
])
def test_an_address_with_a_nul_character_is_not_found(alice: User, census: DataProduct, url: str) -> None:
    response = client_for(alice).get(url)

    assert response.status_code == 404
