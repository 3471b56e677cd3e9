from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.catalog.models import Tag
from apps.domains.models import Domain
from tests.catalog.test_api_fixtures import HR_BACKEND_URL, Mesh, build_mesh
from tests.conftest import client_for
from tests.factories import BackendFactory, DataProductFactory, DatasetFactory, DomainFactory, UserFactory

API = "/api/v1"
HR_READ_URLS = [
    f"{API}/domains/hr/",
    f"{API}/domains/hr/products/",
    f"{API}/domains/hr/products/census/",
    f"{API}/datasets/hr.census.adult/",
    f"{API}/datasets/hr.census.adult/columns/",
    f"{API}/datasets/hr.census.adult/columns/age/",
]
LIST_URLS = [
    f"{API}/domains/",
    f"{API}/products/",
    f"{API}/products/?domain=hr",
    f"{API}/datasets/",
    f"{API}/datasets/?domain=hr",
    f"{API}/datasets/?tag=census",
    f"{API}/datasets/?sensitivity=confidential",
]


@pytest.fixture
def mesh(hr: Domain, alice: User) -> Mesh:
    return build_mesh(hr=hr, alice=alice)


@pytest.mark.parametrize("url", HR_READ_URLS)
def test_charlie_gets_404_on_every_hr_object(mesh: Mesh, charlie: User, url: str) -> None:
    response = client_for(charlie).get(url)
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found"}


@pytest.mark.parametrize("url", HR_READ_URLS)
def test_bob_reads_every_hr_object(mesh: Mesh, bob: User, url: str) -> None:
    assert client_for(bob).get(url).status_code == 200


@pytest.mark.parametrize("url", LIST_URLS)
def test_charlie_sees_no_hr_object_in_any_list(mesh: Mesh, charlie: User, bob: User, url: str) -> None:
    def mentions_hr(text: str) -> bool:
        return '"hr"' in text or "hr.census" in text or "Human Resources" in text

    assert mentions_hr(client_for(bob).get(url).content.decode())
    assert not mentions_hr(client_for(charlie).get(url).content.decode())


def test_charlie_lists_only_the_open_domain(mesh: Mesh, charlie: User) -> None:
    body = client_for(charlie).get(f"{API}/domains/").json()
    assert [d["slug"] for d in body["results"]] == ["sales"]
    assert body["count"] == 1


@pytest.mark.parametrize("url", [*HR_READ_URLS, *LIST_URLS, f"{API}/dcat/"])
def test_anonymous_requests_are_refused(mesh: Mesh, url: str) -> None:
    response = Client().get(url)
    assert response.status_code in (401, 403)
    assert "hr.census" not in response.content.decode()


def test_a_dataset_shows_its_metadata_and_columns_but_no_row_count_when_confidential(mesh: Mesh, bob: User) -> None:
    body = client_for(bob).get(f"{API}/datasets/hr.census.adult/").json()
    assert body["address"] == "hr.census.adult"
    assert body["domain"] == "hr" and body["product"] == "census"
    assert body["sensitivity"] == "confidential"
    assert body["row_count"] is None
    assert body["backend"] == {"slug": "census", "kind": "postgresql", "health": "unknown"}
    assert body["owners"] == ["alice"]
    assert body["tags"] == ["census"]
    assert body["privacy_unit_column"] == "person_id"
    assert [c["name"] for c in body["columns"]] == ["person_id", "age", "workclass"]
    age = body["columns"][1]
    assert (age["lower_bound"], age["upper_bound"]) == ("17", "90")
    assert age["classification"] == "quasi_identifier"
    assert body["columns"][2]["categories"] == ["Private", "Self-emp"]


def test_a_dataset_never_carries_its_backend_url(mesh: Mesh, admin_user: User) -> None:
    for url in (f"{API}/datasets/hr.census.adult/", f"{API}/datasets/", f"{API}/dcat/"):
        text = client_for(admin_user).get(url).content.decode()
        assert HR_BACKEND_URL not in text and "db.hr.internal" not in text and "hr_reader" not in text


def test_an_open_dataset_shows_its_row_count(mesh: Mesh, charlie: User) -> None:
    body = client_for(charlie).get(f"{API}/datasets/sales.shop.orders/").json()
    assert body["row_count"] == 1000
    assert body["columns"][0]["upper_bound"] == "1000.5"


def test_a_description_comes_raw_and_sanitized(mesh: Mesh, bob: User) -> None:
    body = client_for(bob).get(f"{API}/datasets/hr.census.adult/").json()
    assert body["description"] == mesh.adult.description
    assert "<strong>bold</strong>" in body["description_html"]
    assert "<script" not in body["description_html"] and "onerror" not in body["description_html"]


def test_dataset_filters_narrow_the_list(mesh: Mesh, bob: User) -> None:
    client = client_for(bob)

    def addresses(query: str) -> list[str]:
        return [d["address"] for d in client.get(f"{API}/datasets/?{query}").json()["results"]]

    assert addresses("") == ["hr.census.adult", "sales.shop.orders"]
    assert addresses("domain=sales") == ["sales.shop.orders"]
    assert addresses("product=census") == ["hr.census.adult"]
    assert addresses("sensitivity=open") == ["sales.shop.orders"]
    assert addresses("tag=census") == ["hr.census.adult"]
    assert addresses("tag=nothing") == []


def test_a_list_item_has_no_columns(mesh: Mesh, bob: User) -> None:
    item = client_for(bob).get(f"{API}/datasets/").json()["results"][0]
    assert "columns" not in item


def test_an_unknown_sensitivity_filter_is_a_400_naming_it(mesh: Mesh, bob: User) -> None:
    response = client_for(bob).get(f"{API}/datasets/?sensitivity=secret")
    assert response.status_code == 400
    assert "sensitivity" in response.json()["fields"]


def test_a_filter_with_a_null_character_is_a_400(mesh: Mesh, bob: User) -> None:
    assert client_for(bob).get(f"{API}/datasets/?domain=%00").status_code == 400


def test_lists_are_paginated(mesh: Mesh, bob: User) -> None:
    body = client_for(bob).get(f"{API}/datasets/?limit=1").json()
    assert body["count"] == 2
    assert len(body["results"]) == 1
    assert "offset=1" in body["next"]


def test_products_filter_by_domain(mesh: Mesh, bob: User) -> None:
    body = client_for(bob).get(f"{API}/products/?domain=hr").json()
    assert [(p["domain"], p["slug"], p["datasets"]) for p in body["results"]] == [
        ("hr", "census", ["hr.census.adult"])
    ]


def test_the_columns_endpoint_lists_current_columns_only(mesh: Mesh, bob: User) -> None:
    body = client_for(bob).get(f"{API}/datasets/hr.census.adult/columns/").json()
    assert [c["name"] for c in body["results"]] == ["person_id", "age", "workclass"]


def test_one_column_reads_by_name(mesh: Mesh, bob: User) -> None:
    body = client_for(bob).get(f"{API}/datasets/hr.census.adult/columns/workclass/").json()
    assert body["logical_type"] == "string"
    assert body["lower_bound"] is None


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/datasets/hr.census.nope/",
        f"{API}/datasets/hr.census.adult/columns/dropped/",
        f"{API}/datasets/hr.census.adult/columns/nope/",
        f"{API}/datasets/hr%00census/",
        f"{API}/datasets/hr.census.adult/columns/a%00b/",
        f"{API}/domains/nope/",
        f"{API}/domains/hr/products/nope/",
    ],
)
def test_missing_objects_are_404_never_500(mesh: Mesh, bob: User, url: str) -> None:
    assert client_for(bob).get(url).status_code == 404


@pytest.mark.parametrize("url", [f"{API}/datasets/", f"{API}/products/", f"{API}/domains/", f"{API}/dcat/"])
def test_a_list_costs_the_same_queries_for_many_objects(
    mesh: Mesh, bob: User, url: str, django_assert_max_num_queries: Any
) -> None:
    client = client_for(bob)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(15):
        domain = DomainFactory(slug=f"more{i}")
        domain.owners.add(UserFactory(username=f"owner{i}"))
        product = DataProductFactory(domain=domain, slug="p")
        product.owners.add(UserFactory(username=f"powner{i}"))
        dataset = DatasetFactory(domain=domain, product=product, backend=BackendFactory(domain=domain, slug="b"))
        dataset.tags.add(Tag.objects.get_or_create(name=f"t{i}")[0])
    with django_assert_max_num_queries(len(few)):
        assert client.get(url).status_code == 200
